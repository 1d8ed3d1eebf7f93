// Harness: percentiles, scratch directories and the table.
#include "bench/harness.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

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

void printTable(const std::string& heading, const std::vector<Row>& rows) {
  std::vector<std::string> header = {"row", "idem", "baseline", "ratio", "target", "verdict"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    cells.push_back({r.name, r.idem, r.baseline, r.ratio == 0 ? "-" : fixed(r.ratio, 2) + "x",
                     r.target, r.verdict});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& line : cells) width[c] = std::max(width[c], line[c].size());
  }
  auto printLine = [&](const std::vector<std::string>& line) {
    std::ostringstream out;
    out << "|";
    for (std::size_t c = 0; c < line.size(); ++c) {
      out << " " << line[c] << std::string(width[c] - line[c].size(), ' ') << " |";
    }
    std::cout << out.str() << "\n";
  };
  std::cout << "\n" << heading << "\n\n";
  printLine(header);
  std::vector<std::string> rule;
  for (std::size_t w : width) rule.push_back(std::string(w, '-'));
  printLine(rule);
  for (const auto& line : cells) printLine(line);
  std::cout << std::flush;
}

}  // namespace idem::bench
