// Report: what a demo run found: the invariants with PASS/FAIL and their numbers, the pipeline
// counters summed over every endpoint process, the faults injected, throughput and latency.
// Printed for people (stdout) and written as JSON (--report FILE.json) for tests and scripts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "tools/demo/demo_options.h"
#include "tools/demo/invariant.h"

namespace idem::tools::demo {

// The counters of the stats files DIR/stats/<endpoint>.<pid>.json, summed. A process killed
// with -9 leaves the last file it wrote (every 200 ms), so its final moments are not counted.
struct PipelineCounts {
  std::uint64_t processFiles = 0;
  std::uint64_t batches = 0;
  std::uint64_t processed = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t alreadyPublished = 0;
  std::uint64_t published = 0;
  std::uint64_t retried = 0;
  std::uint64_t deadLettered = 0;
};
PipelineCounts sumStats(const std::filesystem::path& statsDirectory);

struct Report {
  DemoOptions options;
  bool resumed = false;  // the directory held this demo's earlier, unfinished run
  std::string unit;      // "transfers" or "orders"
  std::uint64_t total = 0;
  std::uint64_t endedThisRun = 0;
  std::vector<Invariant> invariants;
  std::vector<std::pair<std::string, std::uint64_t>> outcomes;
  PipelineCounts counts;
  std::uint64_t kills = 0;
  std::uint64_t injectedDuplicates = 0;
  double wallSeconds = 0;  // the whole command
  double workSeconds = 0;  // from the first work item sent to the last one ended
  std::vector<std::int64_t> latenciesNs;

  bool passed() const;
  void print(std::ostream& out) const;
  // Writes the JSON form to `file`. Throws idem::Error (permanent) when it cannot.
  void writeJson(const std::filesystem::path& file) const;
};

}  // namespace idem::tools::demo
