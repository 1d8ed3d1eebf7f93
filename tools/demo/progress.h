// Progress: the demo's live status on stderr: one line rewritten in place (\r) on a terminal,
// a plain line every few seconds otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace idem::tools::demo {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  Progress(std::string unit, std::uint64_t total);

  // Shows the state if it is time to (every 200 ms on a terminal, 2 s otherwise).
  void show(std::uint64_t ended, std::uint64_t queued, std::uint64_t kills, bool force = false);
  // Ends the line in place, if any.
  void finish();

 private:
  std::string unit_;
  std::uint64_t total_;
  bool terminal_;
  Clock::time_point started_;
  Clock::time_point lastShown_{};
  std::uint64_t endedAtStart_ = UINT64_MAX;
  bool lineOpen_ = false;
};

}  // namespace idem::tools::demo
