// Scenario: what the demo driver needs to know about one sample app: its processes, the edge
// messages of its workload, how far the work has come, and the invariants to check at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "idem/transport.h"
#include "tools/demo/invariant.h"

namespace idem::tools::demo {

// One `idem run` process: a name for the supervisor and log, and the endpoints it serves.
struct ProcessSpec {
  std::string name;
  std::vector<std::string> endpoints;
};

class Scenario {
 public:
  virtual ~Scenario() = default;

  virtual std::vector<ProcessSpec> processes() const = 0;
  // What one work item is called in the progress line and report ("transfers", "orders").
  virtual std::string unit() const = 0;

  // Edge messages that set the stage, in phases: each phase is sent, then applied by its
  // endpoint, before the next is sent. Ids are stable: the same on every run.
  virtual std::vector<std::vector<Outbound>> setupPhases(TimePoint now) = 0;
  // The work: one edge message per work item, sent in windows as earlier items end. Item
  // `index` (< workCount()) always has the same id; `now` is its edge time.
  virtual std::size_t workCount() const = 0;
  virtual Outbound workItem(std::size_t index, TimePoint now) = 0;
  // Whether `message` (of a phase or the work) was applied by its endpoint already.
  virtual bool applied(const Outbound& message) const = 0;
  // How many work items have ended (read from the stores).
  virtual std::uint64_t ended() = 0;
  // Edge messages that follow the progress of the work (the orders' payments); default none.
  virtual std::vector<Outbound> followUps(TimePoint) { return {}; }

  // Checks the invariants; all processes have stopped.
  virtual std::vector<Invariant> check() = 0;
  // Per ended work item, the nanoseconds from its edge message's time to its end.
  virtual std::vector<std::int64_t> latencies() = 0;
  // Outcome counts for the report, e.g. {"completed", 8123}.
  virtual std::vector<std::pair<std::string, std::uint64_t>> outcomes() = 0;
};

}  // namespace idem::tools::demo
