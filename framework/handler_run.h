// HandlerRun: runs one registered handler on a state and an input with the facts recorded for
// it, returning the new state and the canonical outputs. Shared by first processing, duplicate
// replay and folding.
#pragma once

#include <cstdint>
#include <string_view>

#include "handlers/invocation.h"
#include "idem/canonical.h"
#include "idem/envelope.capnp.h"
#include "idem/handlers.h"

namespace idem::detail {

struct RunResult {
  Words state;
  Emitted emitted;
};

// Everything besides the state that a run depends on.
struct RunInput {
  const RegisteredHandler* handler = nullptr;
  std::string_view endpoint;
  std::string_view entityKey;
  wire::Envelope::Reader envelope;
  capnp::AnyStruct::Reader payload;
  std::int64_t recordedAtNs = 0;
};

// Throws whatever the handler throws.
RunResult runHandler(const RunInput& input, kj::ArrayPtr<const capnp::word> state);

}  // namespace idem::detail
