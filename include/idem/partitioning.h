// Partitioning: which partition of an endpoint an entity belongs to, and how a sender learns the
// entity key a receiving endpoint will derive from a message. Used by the NATS transport to
// route; the function is specified in docs/nats.md ("Partitioning") so other languages can
// reproduce it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "idem/handlers.h"

namespace idem {

// The partition of `entityKey` among `count` (> 0; throws idem::Error kBug for 0): the first 8
// bytes, big-endian, of BLAKE2b-128 over the length-prefixed fields ("idem-partition",
// entityKey), modulo `count`. Identical on every build, machine and run; never std::hash.
std::uint32_t partitionOf(std::string_view entityKey, std::uint32_t count);

// The entity key endpoint `endpoint` derives from a message of `messageType` whose payload is
// `payload` (canonical bytes, as in the envelope), computed with that endpoint's own key
// function. nullopt when the resolver does not know that endpoint's handler for the type.
// Throws idem::Error kPermanent when the payload cannot be read.
using EntityKeyResolver = std::function<std::optional<std::string>(
    std::string_view endpoint, std::uint64_t messageType, std::span<const std::byte> payload)>;

// A resolver over these handler sets (one per endpoint, named by Handlers::endpointName()), which
// it keeps. The handlers' code must outlive the resolver (module apps: keep the App).
EntityKeyResolver keyResolverFor(std::vector<Handlers> handlerSets);

}  // namespace idem
