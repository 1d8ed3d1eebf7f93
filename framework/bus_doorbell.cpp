// BusDoorbell: process-shared futexes on a mapped file, one per slot. Not a durability mechanism:
// a lost wake-up costs latency (until the consumer's wait ends), never a message.
#include "framework/bus_doorbell.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <string>

#include "idem/error.h"

namespace idem::detail {

namespace {

constexpr std::size_t kFileBytes = 4096;
static_assert(BusDoorbell::kSlots * 2 * sizeof(std::uint32_t) == kFileBytes);

std::atomic_ref<std::uint32_t> word(std::uint32_t* words, int i) {
  return std::atomic_ref(words[i]);
}

}  // namespace

BusDoorbell::BusDoorbell(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::kPermanent, file.string() + ": cannot open: " + strerror(errno));
  // Extending is idempotent: every process agrees on the size, and new bytes read as zero.
  struct stat st {};
  if (::fstat(fd, &st) != 0 ||
      (static_cast<std::size_t>(st.st_size) < kFileBytes && ::ftruncate(fd, kFileBytes) != 0)) {
    const int saved = errno;
    ::close(fd);
    fail(ErrorKind::kPermanent, file.string() + ": cannot size: " + strerror(saved));
  }
  void* map = ::mmap(nullptr, kFileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int saved = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    fail(ErrorKind::kPermanent, file.string() + ": cannot map: " + strerror(saved));
  }
  words_ = static_cast<std::uint32_t*>(map);
}

BusDoorbell::~BusDoorbell() { ::munmap(words_, kFileBytes); }

std::size_t BusDoorbell::slotOf(std::string_view endpoint) noexcept {
  std::uint32_t hash = 2166136261u;  // FNV-1a, 32 bits
  for (char c : endpoint) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  return hash % kSlots;
}

std::uint32_t BusDoorbell::ticket(std::string_view endpoint) const noexcept {
  return word(words_, static_cast<int>(2 * slotOf(endpoint))).load();
}

std::uint32_t BusDoorbell::waiting(std::string_view endpoint) const noexcept {
  return word(words_, static_cast<int>(2 * slotOf(endpoint) + 1)).load();
}

void BusDoorbell::ring(std::string_view endpoint) noexcept {
  const int ring = static_cast<int>(2 * slotOf(endpoint));
  word(words_, ring).fetch_add(1);
  // Dekker pairing with wait(): the waiter counts itself before the kernel compares the counter,
  // we advance the counter before reading the waiters (both sequentially consistent).
  if (word(words_, ring + 1).load() != 0) {
    ::syscall(SYS_futex, &words_[ring], FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

void BusDoorbell::wait(std::string_view endpoint, std::uint32_t ticket,
                       std::chrono::nanoseconds upTo) noexcept {
  if (upTo <= std::chrono::nanoseconds::zero()) return;
  const int ring = static_cast<int>(2 * slotOf(endpoint));
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(upTo);
  timespec timeout{static_cast<time_t>(seconds.count()),
                   static_cast<long>((upTo - seconds).count())};
  word(words_, ring + 1).fetch_add(1);
  if (word(words_, ring).load() == ticket) {
    ::syscall(SYS_futex, &words_[ring], FUTEX_WAIT, ticket, &timeout, nullptr, 0);
  }
  word(words_, ring + 1).fetch_sub(1);
}

}  // namespace idem::detail
