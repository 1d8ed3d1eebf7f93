// Harness: timing, percentiles, medians of repeated runs, scratch directories and the one table
// every benchmark prints its rows into (idem beside its baseline, measured in the same run).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace idem::bench {

using Clock = std::chrono::steady_clock;

inline std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

inline double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The p-th percentile (0..100) of `samples` (nearest rank); 0 when empty. Sorts a copy.
double percentile(std::vector<double> samples, double p);
// The median of `values`; 0 when empty.
inline double median(std::vector<double> values) { return percentile(std::move(values), 50); }

// A fresh, empty directory under $IDEM_BENCH_DIR (default: the system temp directory), removed
// with everything in it when the object is destroyed.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Total size of the regular files under `dir` (apparent size; LMDB files are sparse-free here).
std::uintmax_t directoryBytes(const std::filesystem::path& dir);

// One line of the table: what idem measured, what its baseline measured in the same run, the
// ratio idem/baseline (or baseline/idem when lower is better), and the target with its verdict.
struct Row {
  std::string name;
  std::string idem;      // e.g. "41,200 msg/s  p50 3.1 ms  p99 7.9 ms"
  std::string baseline;  // e.g. "raw LMDB 80,500 rec/s"
  double ratio = 0;      // 0: no ratio (printed as "-")
  std::string target;    // e.g. ">= 0.5x and >= 40k/s"
  std::string verdict;   // "met", "NOT met", "n/a", "not implemented"
};

// Prints `rows` as one aligned table on stdout, with a heading naming how it was measured.
void printTable(const std::string& heading, const std::vector<Row>& rows);

// "12,345" style thousands separators for throughput figures.
std::string thousands(double value);
// A fixed-precision number, e.g. fixed(1.234, 2) == "1.23".
std::string fixed(double value, int decimals);

}  // namespace idem::bench
