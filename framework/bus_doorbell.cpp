// BusDoorbell: a process-shared futex on a mapped file. Not a durability mechanism: losing the
// file or a wake-up only costs latency, since consumers re-check the bus at least every slice.
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

std::uint32_t BusDoorbell::ticket() const noexcept { return word(words_, 0).load(); }

void BusDoorbell::ring() noexcept {
  word(words_, 0).fetch_add(1);
  // Dekker pairing with wait(): the waiter counts itself before the kernel compares the counter,
  // we advance the counter before reading the waiters (both sequentially consistent).
  if (word(words_, 1).load() != 0) {
    ::syscall(SYS_futex, &words_[0], FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

void BusDoorbell::wait(std::uint32_t ticket, std::chrono::nanoseconds upTo) noexcept {
  if (upTo <= std::chrono::nanoseconds::zero()) return;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(upTo);
  timespec timeout{static_cast<time_t>(seconds.count()),
                   static_cast<long>((upTo - seconds).count())};
  word(words_, 1).fetch_add(1);
  if (word(words_, 0).load() == ticket) {
    ::syscall(SYS_futex, &words_[0], FUTEX_WAIT, ticket, &timeout, nullptr, 0);
  }
  word(words_, 1).fetch_sub(1);
}

}  // namespace idem::detail
