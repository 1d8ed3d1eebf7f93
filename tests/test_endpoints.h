// The small endpoints the core tests run: a shooting gallery (alternative worlds), counters
// (several outputs, no-ops, state-dependent outputs, failures) and a downstream sink.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "idem/handlers.h"
#include "tests/test_messages.capnp.h"

namespace idem::test {

// "target" entities: PlaceTarget sets the position; Fire publishes Hit or Missed.
Handlers galleryHandlers(const std::string& endpoint = "gallery");

// Shared, test-controlled knobs for counter handlers. Not part of any state: the Flaky handler
// reads `flakyFailuresLeft` to throw, and the hidden-counter variant misuses `hidden`.
// Shared by every endpoint built with it, which a process may run on several threads (one per
// partition): the counters are atomic.
struct CounterKnobs {
  std::atomic<unsigned> flakyFailuresLeft = 0;
  std::atomic<std::uint64_t> hidden = 0;
  // Increment runs so far (re-runs, folds and determinism checks included); a run whose number
  // (1-based) is in `failingIncrementRuns` throws a std::runtime_error.
  std::atomic<unsigned> incrementRuns = 0;
  std::set<unsigned> failingIncrementRuns;
};

// "counter" entities: Increment (emits `outputs` Counted), Ping (no-op), Flaky (throws).
// With `hiddenCounter`, Increment's Counted.value comes from knobs->hidden++ instead of the
// state: a non-deterministic handler.
Handlers counterHandlers(const std::string& endpoint, std::shared_ptr<CounterKnobs> knobs = {},
                         bool hiddenCounter = false, std::uint32_t incrementVersion = 1);

// counterHandlers() after a deploy: Increment registered at version `current`, and the same code
// registered for replay only under each version in `retired`.
Handlers counterHandlersAfterDeploy(const std::string& endpoint, std::uint32_t current,
                                    const std::vector<std::uint32_t>& retired,
                                    std::shared_ptr<CounterKnobs> knobs = {});

// "sink" entities keyed by counter id: adds up each Counted it receives, emits nothing.
Handlers sinkHandlers(const std::string& endpoint = "sink");

// The same registrations into an existing Handlers (for the endpoint processes' apps).
void addCounterHandlers(Handlers& handlers, std::shared_ptr<CounterKnobs> knobs = {});
void addSinkHandlers(Handlers& handlers);
// "relay" entities keyed by counter id: each Counted is added up and published as a Relayed.
void addRelayHandlers(Handlers& handlers);
// "sink" entities keyed by counter id that add up Relayed messages (the end of a chain).
void addChainSinkHandlers(Handlers& handlers);

}  // namespace idem::test
