// Progress: rate = items ended since this run started / seconds since.
#include "tools/demo/progress.h"

#include <unistd.h>

#include <cstdio>

namespace idem::tools::demo {

Progress::Progress(std::string unit, std::uint64_t total)
    : unit_(std::move(unit)),
      total_(total),
      terminal_(::isatty(STDERR_FILENO) == 1),
      started_(Clock::now()) {}

void Progress::show(std::uint64_t ended, std::uint64_t queued, std::uint64_t kills, bool force) {
  const auto now = Clock::now();
  if (endedAtStart_ == UINT64_MAX) endedAtStart_ = ended;
  const auto every = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(2000);
  if (!force && now - lastShown_ < every) return;
  lastShown_ = now;
  const double seconds = std::chrono::duration<double>(now - started_).count();
  const double rate = seconds > 0 ? static_cast<double>(ended - endedAtStart_) / seconds : 0;
  std::fprintf(stderr, "%s%llu / %llu %s ended   queued %llu   kills %llu   %.0f/s   %.1f s%s",
               terminal_ ? "\r" : "", static_cast<unsigned long long>(ended),
               static_cast<unsigned long long>(total_), unit_.c_str(),
               static_cast<unsigned long long>(queued), static_cast<unsigned long long>(kills),
               rate, seconds, terminal_ ? "   " : "\n");
  std::fflush(stderr);
  lineOpen_ = terminal_;
}

void Progress::finish() {
  if (lineOpen_) std::fputc('\n', stderr);
  lineOpen_ = false;
}

}  // namespace idem::tools::demo
