// Harness: percentiles, scratch directories, the fsync rate and number formatting.
#include "bench/harness.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace idem::bench {

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(samples.size()));
  const std::size_t index = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
  return samples[std::min(index, samples.size() - 1)];
}

ScratchDir::ScratchDir(const std::string& name) {
  const char* root = std::getenv("IDEM_BENCH_DIR");
  const std::filesystem::path base = root ? root : std::filesystem::temp_directory_path();
  path_ = base / ("idem-bench-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uintmax_t directoryBytes(const std::filesystem::path& dir) {
  std::uintmax_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

std::string thousands(double value) {
  const auto whole = static_cast<long long>(std::llround(value));
  std::string digits = std::to_string(whole < 0 ? -whole : whole);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return whole < 0 ? "-" + out : out;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

double fsyncRate(const std::filesystem::path& dir, std::chrono::milliseconds duration) {
  const std::filesystem::path file = dir / "fsync-rate";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("fsyncRate: cannot create " + file.string());
  const std::vector<char> page(4096, 'f');
  std::uint64_t syncs = 0;
  const auto start = Clock::now();
  bool failed = false;
  while (!failed && Clock::now() - start < duration) {
    failed = ::pwrite(fd, page.data(), page.size(), 0) != static_cast<ssize_t>(page.size()) ||
             ::fdatasync(fd) != 0;
    ++syncs;
  }
  const double seconds = secondsSince(start);
  ::close(fd);
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
  if (failed) throw std::runtime_error("fsyncRate: cannot write " + file.string());
  return static_cast<double>(syncs) / seconds;
}

}  // namespace idem::bench
