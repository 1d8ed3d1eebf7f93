// The payment provider sample's endpoint (samples/provider/provider.capnp): what the orders
// sample calls, exactly once, over the four-phase protocol (docs/http.md).
#pragma once

#include <idem/handlers.h>

#include <cstdint>

#include "samples/provider/provider.capnp.h"

namespace provider {

inline constexpr const char* kProvider = "provider";
// Charges above this many cents are declined.
inline constexpr std::int64_t kCardLimit = 100'000;

// Entity "charge", keyed by order id. Charge approves (up to kCardLimit) or declines and replies
// ChargeReply; a second Charge of the same order is answered with the first one's decision and
// charge id, never charged again.
void registerProvider(idem::Handlers& handlers);

}  // namespace provider
