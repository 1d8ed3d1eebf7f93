// Harness: timing, percentiles, medians of repeated runs, scratch directories, the disk's fsync
// rate and number formatting. The rows and the table are bench/report.h.
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

// Synced 4 KiB writes per second on the filesystem of `dir`: pwrite() of one page at offset 0 of a
// scratch file and fdatasync(), repeated for `duration` (a commit's data sync, without LMDB). The
// file is removed afterwards. Throws std::runtime_error when the file cannot be written.
double fsyncRate(const std::filesystem::path& dir, std::chrono::milliseconds duration);

// "12,345" style thousands separators for throughput figures.
std::string thousands(double value);
// A fixed-precision number, e.g. fixed(1.234, 2) == "1.23".
std::string fixed(double value, int decimals);

}  // namespace idem::bench
