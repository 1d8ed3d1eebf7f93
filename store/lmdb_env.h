// LmdbEnv: one LMDB environment (a directory with data.mdb and lock.mdb), its named databases,
// RAII transactions and cursors, and the one translation of mdb_* return codes into idem::Error.
// Private to store/: this header includes <lmdb.h>, which nothing outside store/ may see.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "idem/canonical.h"

namespace idem::store {

using Bytes = std::span<const std::byte>;

inline Bytes asBytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }
inline std::string_view asChars(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

struct EnvOptions {
  std::size_t initialMapBytes = std::size_t{64} << 20;  // the file is sparse; grows on demand
  std::size_t maxMapBytes = std::size_t{1} << 40;       // MDB_MAP_FULL beyond this: overloaded
  unsigned maxReaders = 126;
  unsigned maxDbs = 8;
  bool durable = true;  // false: MDB_NOSYNC (benchmarks and tests only)
  // MDB_RDONLY: an existing environment, never written, never grown; the map size is the one the
  // file records. LMDB still takes a reader slot in lock.mdb (except on a read-only filesystem).
  bool readOnly = false;
};

// Thrown by the translation for MDB_MAP_FULL. Not an std::exception, so that handler code catching
// std::exception does not swallow it; LmdbEnv::write() catches it, grows the map and retries.
struct MapFullSignal {};

// Throws what `rc` (non-zero, from mdb_* function `call`) means for environment file `file`:
//   ENOSPC, EDQUOT ("disk full"), MDB_READERS_FULL          -> Error kOverloaded naming the file
//   MDB_MAP_FULL                                            -> MapFullSignal
//   MDB_CORRUPTED, MDB_INVALID, MDB_VERSION_MISMATCH,
//   MDB_PAGE_NOTFOUND                                       -> Error kPermanent naming the file
//   MDB_PANIC (LMDB's own "must be reopened")               -> Error kBug naming the file
//   anything else                                           -> Error kBug with mdb_strerror and
//   call
// LmdbEnv and Txn additionally poison their environment on the codes that mean the file can no
// longer be trusted by this process (see LmdbEnv::write()); this function only translates.
[[noreturn]] void throwMdbError(int rc, std::string_view call, const std::filesystem::path& file);
inline void checkMdb(int rc, std::string_view call, const std::filesystem::path& file) {
  if (rc != MDB_SUCCESS) throwMdbError(rc, call, file);
}

// What the write transactions committed through one LmdbEnv object cost, counted since it was
// opened. Commits made by other processes or by other LmdbEnv objects on the same file are not in
// it. Read-only transactions cost nothing and are never counted.
struct LmdbCounters {
  // Write transactions committed that changed something: LMDB gave each a new transaction id and
  // wrote a meta page. A write transaction that changed nothing commits as a no-op (LMDB writes
  // and syncs nothing) and is not counted. Detected by comparing the transaction's id with the
  // newest meta page right after the commit: in theory, another writer of the same file that
  // commits within that instant could make an empty transaction count (not with one writer).
  std::uint64_t commits = 0;
  // Flushes to stable storage that the commits waited for, each counted as one sync: LMDB's
  // fdatasync() of the data file after writing the dirty pages (skipped under MDB_NOSYNC) and its
  // synchronous write of the meta page through a descriptor opened O_DSYNC (skipped under
  // MDB_NOSYNC or MDB_NOMETASYNC). Hence syncsPerCommit(): 2 per counted commit with LMDB's
  // defaults (EnvOptions::durable), 1 with MDB_NOMETASYNC, 0 when not durable; it is read from
  // the environment's flags at each commit, so any option that sets those flags counts right.
  std::uint64_t syncs = 0;
  // Pages of pageSize() bytes the commits handed the kernel to write: the transaction's dirty
  // branch, leaf, overflow and free-list pages. Measured on the committing thread as the growth of
  // /proc/thread-self/io "wchar" (bytes passed to write calls) across mdb_txn_commit, divided by
  // the page size; the meta page write (about 120 bytes) falls below one page and drops out.
  // Limits: pages LMDB spills to the file before the commit (a transaction dirtying more than
  // ~128k pages) are not counted; it is what LMDB asked the kernel to write, not what reached the
  // device (the kernel may merge writes, the filesystem adds its journal); 0 under MDB_WRITEMAP
  // (pages reach the file through msync) and wherever /proc/thread-self/io cannot be read.
  // Costs two pread() calls (~3 us each here) per commit.
  std::uint64_t pagesWritten = 0;
};

// The syncs (as LmdbCounters::syncs counts them) of one commit that changed something, under the
// environment flags `envFlags` (mdb_env_get_flags).
unsigned syncsPerCommit(unsigned envFlags) noexcept;

class LmdbEnv;

// A read or write transaction. Created only by LmdbEnv::read()/write(), which own its lifetime;
// a write transaction that is not committed is aborted when it ends. Bytes returned by get() and
// by cursors point into the memory map and are valid until the transaction ends. Not thread-safe;
// never moved to another thread while open.
class Txn {
 public:
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  bool readOnly() const noexcept { return readOnly_; }
  MDB_txn* raw() const noexcept { return txn_; }
  const std::filesystem::path& file() const noexcept;

  // The value stored under `key`, or nullopt.
  std::optional<Bytes> get(MDB_dbi dbi, Bytes key);
  // Stores `value` under `key` with mdb_put `flags`. Returns false only when MDB_NOOVERWRITE or
  // MDB_APPEND refused the key (MDB_KEYEXIST); the transaction stays usable then.
  [[nodiscard]] bool put(MDB_dbi dbi, Bytes key, Bytes value, unsigned flags = 0);
  // Makes room for a value of `size` bytes under `key` (MDB_RESERVE with `flags`) and returns
  // it, to be filled before the next write to `dbi` in this transaction; nullopt when
  // MDB_NOOVERWRITE or MDB_APPEND refused the key. Not for dbis with MDB_DUPSORT.
  std::optional<std::span<std::byte>> reserve(MDB_dbi dbi, Bytes key, std::size_t size,
                                              unsigned flags = 0);
  // Removes `key`; false when it was absent.
  bool del(MDB_dbi dbi, Bytes key);
  // Entries in `dbi` (mdb_stat).
  std::size_t entries(MDB_dbi dbi);
  // Translates a failed mdb_* call made on this transaction (remembering MDB_MAP_FULL, so that
  // write() grows the map even when the body swallowed the signal).
  void check(int rc, std::string_view call);
  // Keeps `words` alive until the transaction ends (aligned copies of unaligned map values).
  kj::ArrayPtr<const capnp::word> keep(Words words);

 private:
  friend class LmdbEnv;
  Txn(const LmdbEnv& env, MDB_txn* txn, bool readOnly)
      : env_(env), txn_(txn), readOnly_(readOnly) {}
  void commit();  // the transaction handle is gone afterwards, whatever the outcome

  const LmdbEnv& env_;
  MDB_txn* txn_;
  bool readOnly_;
  bool mapFull_ = false;
  std::vector<Words> kept_;
};

// A cursor over one database in one transaction; closed when it ends (before its transaction).
class Cursor {
 public:
  Cursor(Txn& txn, MDB_dbi dbi);
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // Moves with `op` (MDB_FIRST, MDB_LAST, MDB_NEXT, MDB_PREV, MDB_SET_RANGE with `key`, ...).
  // Returns false, leaving key()/value() unspecified, when there is no such entry.
  bool move(MDB_cursor_op op, Bytes key = {});
  Bytes key() const noexcept;
  Bytes value() const noexcept;

 private:
  Txn& txn_;
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{};
  MDB_val value_{};
};

// An open environment. Thread safety: read() and write() may be called from any number of threads
// (LMDB serialises writers, across processes too). The map is resized (grown on MDB_MAP_FULL, or
// adopted after another process grew it: MDB_MAP_RESIZED) only while no transaction of this
// process is open, which an internal shared mutex enforces: every transaction holds it shared,
// a resize holds it exclusively. Hence: never call write() or read() from inside a body, on the
// same thread, while that body's transaction is open (it may deadlock on a resize).
class LmdbEnv {
 public:
  // Opens (creating when absent) the environment in directory `dir` with MDB_NOTLS, clears stale
  // reader slots of dead processes. Refuses, with Error kPermanent naming data.mdb, a file that is
  // shorter than two pages, not an LMDB file, or shorter than its last committed page.
  LmdbEnv(std::filesystem::path dir, const EnvOptions& options);
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  const std::filesystem::path& directory() const noexcept { return dir_; }
  // The data file, data.mdb: what error messages name.
  const std::filesystem::path& file() const noexcept { return file_; }
  MDB_env* raw() const noexcept { return env_; }

  // Runs `body` in one write transaction and commits it. Throws Error kBug when the environment
  // was opened read-only. (durably unless options.durable is false).
  // On MDB_MAP_FULL from a put or the commit, aborts, grows the map (doubling, capped at
  // maxMapBytes) and runs `body` again from the start. An exception from `body` aborts.
  // Throws Error kOverloaded when the map is full at maxMapBytes or the disk is full (ENOSPC,
  // EDQUOT from a write of the commit or a spill): nothing of the transaction is committed and
  // the environment stays usable (LMDB writes the meta page that publishes a transaction only
  // after its pages were written and synced, so the committed state never names a page of a
  // failed commit); the caller backs off and retries.
  // Disk faults: any other failure of the commit (EIO from a write or from the fsync, EROFS, ...),
  // EIO from any call, and MDB_PANIC *poison* the environment: after a failed fsync the kernel
  // may have marked the pages it could not write clean, so what this process would read back is
  // not what is on disk. The call throws Error kBug naming the file and the failure, and so does
  // every later read() and write() on this environment, in every thread: the process must open
  // the environment again (the endpoint stops loudly; its supervisor restarts the process).
  // Thread safety of the poison: it is set once, atomically, and never cleared.
  void write(const std::function<void(Txn&)>& body);
  // Runs `body` in a read-only snapshot transaction.
  void read(const std::function<void(Txn&)>& body) const;
  // Runs `body` in a read-only transaction that is then committed, so that database handles it
  // opened with openDb(txn, name, false) stay valid for the environment's lifetime. For
  // environments opened read-only, which cannot run write().
  void readKeepingDbs(const std::function<void(Txn&)>& body);

  // Opens the named database `name` in `txn` (the handle is valid for the environment's lifetime
  // once `txn` commits). With `create`, creates it (write transactions only); without, returns
  // nullopt when it does not exist.
  std::optional<MDB_dbi> openDb(Txn& txn, const char* name, bool create);

  // What this object's commits cost so far (LmdbCounters). Thread-safe; each field is read
  // atomically, so a snapshot taken while another thread commits may count that commit in one
  // field and not yet in another.
  LmdbCounters counters() const noexcept;

  // True once a disk fault poisoned this environment (see write()).
  bool poisoned() const noexcept { return poisoned_.load(); }

  // mdb_env_info and the page size.
  MDB_envinfo info() const;
  std::size_t pageSize() const;

 private:
  enum class Retry { kNo, kGrow, kAdopt };
  void readTxn(const std::function<void(Txn&)>& body, bool keepDbs) const;
  Retry tryWrite(const std::function<void(Txn&)>& body);
  void grow();               // takes the resize lock exclusively
  void adoptResize() const;  // ditto
  friend class Txn;
  // Marks the environment untrusted after `rc` from `call` and throws Error kBug saying so.
  [[noreturn]] void poison(int rc, std::string_view call) const;
  // Throws Error kBug when poisoned.
  void checkTrusted() const;
  // checkMdb, poisoning first on EIO and MDB_PANIC.
  void check(int rc, std::string_view call) const;
  // Adds one commit's cost to the counters.
  void count(const LmdbCounters& commit) const noexcept;

  std::filesystem::path dir_;
  std::filesystem::path file_;
  EnvOptions options_;
  MDB_env* env_ = nullptr;
  mutable std::shared_mutex resizeLock_;
  mutable std::atomic<bool> poisoned_{false};
  mutable std::mutex poisonLock_;
  mutable std::string poisonReason_;  // guarded by poisonLock_; set once with poisoned_
  mutable std::atomic<std::uint64_t> commits_{0};
  mutable std::atomic<std::uint64_t> syncs_{0};
  mutable std::atomic<std::uint64_t> pagesWritten_{0};
};

}  // namespace idem::store
