// BusDoorbell: how a publisher in one process wakes consumers waiting in others, one bell per
// queue. A small shared file of the bus directory holds kSlots pairs of a 32-bit ring counter and
// a waiter count; an endpoint name hashes (FNV-1a, the same in every process) to one slot, waited
// on with a futex. Two endpoints sharing a slot only wake each other spuriously.
//
//   file := kSlots x (ring:u32 waiters:u32), native byte order, 4 KiB, zero when created
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace idem::detail {

// Usage by a consumer of `endpoint`: t = ticket(endpoint); look for work; if none,
// wait(endpoint, t, upTo). Because the ticket is taken before looking, a ring(endpoint) between
// the look and the wait makes the wait return at once: no wake-up is lost. Spurious and early
// returns are allowed; callers re-check.
// Thread safety: all members, from any thread and any process mapping the same file.
class BusDoorbell {
 public:
  static constexpr std::size_t kSlots = 512;

  // Maps `file` (created, 4 KiB, when absent). Throws idem::Error (permanent) naming the file
  // when it cannot be created or mapped.
  explicit BusDoorbell(const std::filesystem::path& file);
  ~BusDoorbell();
  BusDoorbell(const BusDoorbell&) = delete;
  BusDoorbell& operator=(const BusDoorbell&) = delete;

  // The slot `endpoint` rings and waits on.
  static std::size_t slotOf(std::string_view endpoint) noexcept;

  std::uint32_t ticket(std::string_view endpoint) const noexcept;
  // Advances the endpoint's counter and wakes its waiters (a syscall only when some process
  // waits on that slot).
  void ring(std::string_view endpoint) noexcept;
  // Sleeps until the endpoint's counter differs from `ticket`, at most `upTo`.
  void wait(std::string_view endpoint, std::uint32_t ticket,
            std::chrono::nanoseconds upTo) noexcept;
  // Consumers waiting on the endpoint's slot right now, in every process (tests, diagnostics).
  std::uint32_t waiting(std::string_view endpoint) const noexcept;

 private:
  std::uint32_t* words_ = nullptr;  // slot i: [2i] ring counter, [2i+1] waiters; shared mapping
};

}  // namespace idem::detail
