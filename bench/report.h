// Report: the rows every benchmark returns (idem beside its baseline, measured in the same run),
// printed as one table and, with --json, written as one JSON document a script can check.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace idem::bench {

// What a store's commits cost over the timed part of one run (bench/store_meter.h measures it).
struct StoreCost {
  std::uint64_t messages = 0;      // timed messages
  std::uint64_t batches = 0;       // batches they came in
  std::uint64_t commits = 0;       // write transactions that changed something
  std::uint64_t syncs = 0;         // flushes to stable storage (store::LmdbCounters::syncs)
  std::uint64_t pagesWritten = 0;  // pages handed to the kernel to write

  double commitsPerBatch() const;
  double syncsPerMessage() const;
  double pagesPerMessage() const;
};

// The median of each field over `runs` (runs of one benchmark have the same shape).
StoreCost medianOf(const std::vector<StoreCost>& runs);

// "1.00 commits/batch, 0.0078 syncs/msg, 1.83 pages/msg".
std::string describe(const StoreCost& cost);

// One line of the table. The ratio is always idem / baseline; for rows where lower is better
// (bytes, durations) the target says so ("<= 2x").
struct Row {
  std::string key;                 // stable identifier for scripts, e.g. "store-only-vs-append-log"
  std::string name;                // what the row measures, for people
  double idem = 0;                 // idem's figure, in `unit`
  std::optional<double> baseline;  // the baseline's figure, in `unit`; none without a baseline
  std::string unit;                // "msg/s", "B/msg", "us/msg", "ms", "B"
  std::string idemText;            // the table's cells, e.g. "41,200 msg/s  batch p50 3.1 ms"
  std::string baselineText;
  std::string target;       // e.g. ">= 0.6x and >= 100,000 msg/s"; empty: none
  std::optional<bool> met;  // whether the target is met; none without a target
  std::optional<StoreCost> idemCost, baselineCost;  // store rows only
  // Replaces met/not met when the target cannot be judged in this run (e.g. "disk too slow").
  std::string verdict;

  // idem / baseline; nullopt without a baseline or when it is 0.
  std::optional<double> ratio() const;
};

// How the rows were measured, for the table's heading and the JSON document.
struct RunInfo {
  std::uint64_t messages = 0;
  std::uint64_t entities = 0;
  std::uint64_t batch = 0;
  bool durable = true;
  unsigned runs = 0;
  bool smoke = false;         // tiny counts: the figures mean nothing
  double fsyncPerSecond = 0;  // fsyncRate() of this run (mean of the start and end samples)
  double fsyncPerSecondAtStart = 0;
  double fsyncPerSecondAtEnd = 0;
};

// Prints `rows` as one aligned table on stdout under a heading made of `info`.
void printTable(const RunInfo& info, const std::vector<Row>& rows);

// Writes `rows` as one JSON document:
//   {"fsync_per_s": number, "fsync_per_s_start": number, "fsync_per_s_end": number,
//    "smoke": bool, "settings": {"messages", "entities", "batch", "durable", "runs"},
//    "rows": [{"key": string, "row": string, "idem": number, "baseline": number|null,
//              "unit": string, "ratio": number|null, "target": string|null,
//              "met": bool|null, "idem_cost": cost|null, "baseline_cost": cost|null}, ...]}
// where cost is {"messages", "batches", "commits", "syncs", "pages_written",
// "commits_per_batch", "syncs_per_message", "pages_per_message"} (numbers).
// Throws std::runtime_error when a row has no key or two rows share one.
void writeJson(std::ostream& out, const RunInfo& info, const std::vector<Row>& rows);

}  // namespace idem::bench
