// ExploreWorld: one execution of a small configuration of the real pipeline (detail::Pipeline
// over a real VersionStore) under a cooperative scheduler. Consumers run in threads, one at a
// time; each stops at every transport call and fault point, where a Chooser picks who goes next,
// whether it crashes there and where duplicate copies go (docs/exploration.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace idem::explore {

enum class Scenario { kConsumers, kChain };
enum class Mutant { kNone, kAckEarly, kHiddenCounter };

struct Config {
  // kConsumers: endpoint E, two consumers sharing its store. kChain: A -> B, one consumer each.
  Scenario scenario = Scenario::kConsumers;
  std::size_t batchSize = 1;
  unsigned duplicates = 2;  // extra copies of received inputs the scheduler may leave queued
  unsigned crashes = 1;     // kConsumers: per consumer; kChain: in total
  unsigned maxSteps = 400;  // choice points per execution before O8 reports a livelock
  Mutant mutant = Mutant::kNone;
  bool mergeSilent = true;  // false: every stop is a choice point (to measure the reduction)
};

// A 128-bit digest of a global state (two independent 64-bit FNV-1a streams, mixed).
struct Digest {
  std::uint64_t a = 0, b = 0;
  auto operator<=>(const Digest&) const = default;
};
struct DigestHash {
  std::size_t operator()(const Digest& d) const noexcept { return d.a ^ (d.b * 31); }
};

// Picks one of `count` alternatives at each choice point. `state` is the digest of the global
// state there, or nullopt where states are not compared (inside a write transaction).
class Chooser {
 public:
  virtual ~Chooser() = default;
  // Returns the alternative's index, or nullopt to cut the execution here.
  virtual std::optional<std::size_t> choose(std::size_t count,
                                            const std::optional<Digest>& state) = 0;
  // Whether choose() needs `state` at the next choice point (a replayed prefix does not).
  virtual bool wantsState() const = 0;
};

struct Execution {
  enum class End { kDrained, kCut, kViolation, kStepBound } end = End::kDrained;
  std::vector<std::string> violations;
  std::vector<std::size_t> choices;  // the schedule: one index per choice point
  std::vector<std::string> trace;    // what each choice did, e.g. "c1 crash at after-commit"
  // Stops not offered as choice points because they are silent (docs/exploration.md).
  std::uint64_t silentStops = 0;
};

// Runs one execution from scratch (fresh temp directory, store(s), transport and threads).
Execution runExecution(const Config& config, Chooser& chooser);

}  // namespace idem::explore
