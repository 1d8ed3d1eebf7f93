// BusDoorbell: how a publisher in one process wakes consumers waiting in others. A 32-bit ring
// counter and a waiter count in a small shared file of the bus directory, waited on with a futex.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace idem::detail {

// Usage by a consumer: t = ticket(); look for work; if none, wait(t, slice). Because the ticket
// is taken before looking, a ring() between the look and the wait makes the wait return at once:
// no wake-up is lost. Spurious and early returns are allowed; callers re-check.
// Thread safety: all members, from any thread and any process mapping the same file.
class BusDoorbell {
 public:
  // Maps `file` (created, 4 KiB, when absent). Throws idem::Error (permanent) naming the file
  // when it cannot be created or mapped.
  explicit BusDoorbell(const std::filesystem::path& file);
  ~BusDoorbell();
  BusDoorbell(const BusDoorbell&) = delete;
  BusDoorbell& operator=(const BusDoorbell&) = delete;

  std::uint32_t ticket() const noexcept;
  // Advances the counter and wakes every waiter (a syscall only when some process waits).
  void ring() noexcept;
  // Sleeps until the counter differs from `ticket`, at most `upTo`.
  void wait(std::uint32_t ticket, std::chrono::nanoseconds upTo) noexcept;

 private:
  std::uint32_t* words_ = nullptr;  // [0] ring counter, [1] waiters; in the shared mapping
};

}  // namespace idem::detail
