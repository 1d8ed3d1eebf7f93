// The handlers of the calls endpoint (idem::kCallsEndpoint): the caller's half of the
// four-phase protocol as a deterministic state machine, one entity "call" per call keyed by the
// hex of its id (calls/call_records.capnp). Each step's HTTP exchange is an output to the
// runner's queue (idem::kCallsRunnerQueue), emitted once the step's version is durable:
//
//   HttpCall            new        -> putting     PUT asked
//   PUT answered        putting    -> posting     POST asked      (refused: -> delivering)
//   POST answered       posting    -> delivering  HttpCallResult to the calling entity
//   HttpCallDone        delivering -> deleting    DELETE asked
//   DELETE answered     deleting   -> done
//
// An input that does not fit the stage (a stale answer) changes nothing and emits nothing.
#pragma once

#include "idem/handlers.h"

namespace idem::calls {

// Registers the calls endpoint's handlers on `handlers` (made for idem::kCallsEndpoint).
void registerCallerHandlers(Handlers& handlers);

}  // namespace idem::calls
