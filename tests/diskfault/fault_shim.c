/* fault_shim: an LD_PRELOAD library that makes disk faults happen to the files of one directory,
 * for the disk-fault tests (tests/diskfault/). liblmdb.so writes with write/pwrite/writev and
 * syncs with fdatasync/fsync (msync only with MDB_WRITEMAP), all through libc, so interposing
 * those calls reaches every byte LMDB puts on disk.
 *
 *   IDEM_FAULT_DIR      files whose path starts with this directory are faulted
 *   IDEM_FAULT_CONTROL  a file read on every call; its first word is the fault in force:
 *     none       nothing (also: file absent or empty)
 *     enospc     the disk is full: a write that ends past the file's current size (needs new
 *                blocks) fails with ENOSPC; writes in place succeed, as on a full ext4 or xfs
 *     eio-write  every write fails with EIO
 *     eio-fsync  every fsync, fdatasync and msync fails with EIO (msync is not path-checked)
 *
 * The control file is re-read on each faultable call, so a test switches faults while the
 * process runs. Calls on other files cost one readlink of /proc/self/fd/N. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum fault { kNone, kEnospc, kEioWrite, kEioFsync };

static enum fault currentFault(void) {
  const char* control = getenv("IDEM_FAULT_CONTROL");
  if (control == NULL) return kNone;
  int fd = open(control, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kNone;
  char word[32] = {0};
  ssize_t n = read(fd, word, sizeof word - 1);
  close(fd);
  if (n <= 0) return kNone;
  if (strncmp(word, "enospc", 6) == 0) return kEnospc;
  if (strncmp(word, "eio-write", 9) == 0) return kEioWrite;
  if (strncmp(word, "eio-fsync", 9) == 0) return kEioFsync;
  return kNone;
}

/* True when `fd` names a file under IDEM_FAULT_DIR. */
static int faulted(int fd) {
  const char* dir = getenv("IDEM_FAULT_DIR");
  if (dir == NULL || *dir == '\0') return 0;
  char link[64];
  char path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') --len;
  return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* The errno a write of `count` bytes at `offset` (-1: the file position) fails with, or 0. */
static int writeFault(int fd, off_t offset, size_t count) {
  enum fault f = currentFault();
  if (f != kEnospc && f != kEioWrite) return 0;
  if (!faulted(fd)) return 0;
  if (f == kEioWrite) return EIO;
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  if (offset < 0) offset = lseek(fd, 0, SEEK_CUR);
  return offset + (off_t)count > st.st_size ? ENOSPC : 0;
}

static int syncFault(int fd) {
  return currentFault() == kEioFsync && (fd < 0 || faulted(fd)) ? EIO : 0;
}

/* `real`: the libc function this one shadows. */
#define REAL(name)                      \
  static __typeof__(&name) real = NULL; \
  if (real == NULL) real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void* buf, size_t count) {
  REAL(write);
  int e = writeFault(fd, -1, count);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  REAL(pwrite);
  int e = writeFault(fd, offset, count);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  REAL(pwrite64);
  int e = writeFault(fd, offset, count);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, buf, count, offset);
}

static size_t total(const struct iovec* iov, int n) {
  size_t sum = 0;
  for (int i = 0; i < n; ++i) sum += iov[i].iov_len;
  return sum;
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  REAL(writev);
  int e = writeFault(fd, -1, total(iov, n));
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t offset) {
  REAL(pwritev);
  int e = writeFault(fd, offset, total(iov, n));
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, iov, n, offset);
}

int fsync(int fd) {
  REAL(fsync);
  int e = syncFault(fd);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync);
  int e = syncFault(fd);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd);
}

int msync(void* addr, size_t length, int flags) {
  REAL(msync);
  int e = syncFault(-1);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(addr, length, flags);
}
