// LmdbEnv: opening, transactions, map growth, and the one place mdb_* return codes become errors.
#include "store/lmdb_env.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>

#include "idem/error.h"
#include "store/commit_meter.h"
#include "store/lmdb_reachability.h"

namespace idem::store {

namespace {

// LMDB's pages are at least 4 KiB here; a valid file holds two meta pages before anything else.
constexpr std::uintmax_t kMinValidFileBytes = 2 * 4096;

MDB_val toVal(Bytes b) { return MDB_val{b.size(), const_cast<std::byte*>(b.data())}; }
Bytes fromVal(const MDB_val& v) { return {static_cast<const std::byte*>(v.mv_data), v.mv_size}; }

}  // namespace

void throwMdbError(int rc, std::string_view call, const std::filesystem::path& file) {
  const std::string where = file.string();
  const std::string text = mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      throw MapFullSignal{};
    case ENOSPC:
    case EDQUOT:
      fail(ErrorKind::kOverloaded, where + ": disk full (" + text + ") in " + std::string(call));
    case MDB_READERS_FULL:
      fail(ErrorKind::kOverloaded,
           where + ": all reader slots are taken (" + text + "); raise maxReaders or back off");
    case MDB_PANIC:
      fail(ErrorKind::kBug, where + ": " + std::string(call) + " failed: " + text +
                                " (an earlier write failed); the environment must be reopened");
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_PAGE_NOTFOUND:
      fail(ErrorKind::kPermanent, where + " is unusable: " + text + " (in " + std::string(call) +
                                      "); it is not a valid LMDB file of this version, or damaged");
    default:
      fail(ErrorKind::kBug, where + ": " + std::string(call) + " failed: " + text);
  }
}

// --- Txn ------------------------------------------------------------------------------------

Txn::~Txn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

const std::filesystem::path& Txn::file() const noexcept { return env_.file(); }

void Txn::check(int rc, std::string_view call) {
  if (rc == MDB_MAP_FULL) mapFull_ = true;
  env_.check(rc, call);
}

std::optional<Bytes> Txn::get(MDB_dbi dbi, Bytes key) {
  MDB_val k = toVal(key);
  MDB_val v{};
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_get");
  return fromVal(v);
}

bool Txn::put(MDB_dbi dbi, Bytes key, Bytes value, unsigned flags) {
  MDB_val k = toVal(key);
  MDB_val v = toVal(value);
  const int rc = mdb_put(txn_, dbi, &k, &v, flags);
  if (rc == MDB_KEYEXIST && (flags & (MDB_NOOVERWRITE | MDB_APPEND)) != 0) return false;
  check(rc, "mdb_put");
  return true;
}

std::optional<std::span<std::byte>> Txn::reserve(MDB_dbi dbi, Bytes key, std::size_t size,
                                                 unsigned flags) {
  MDB_val k = toVal(key);
  MDB_val v{size, nullptr};
  const int rc = mdb_put(txn_, dbi, &k, &v, flags | MDB_RESERVE);
  if (rc == MDB_KEYEXIST && (flags & (MDB_NOOVERWRITE | MDB_APPEND)) != 0) return std::nullopt;
  check(rc, "mdb_put(MDB_RESERVE)");
  return std::span<std::byte>(static_cast<std::byte*>(v.mv_data), size);
}

bool Txn::del(MDB_dbi dbi, Bytes key) {
  MDB_val k = toVal(key);
  const int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_del");
  return true;
}

std::size_t Txn::entries(MDB_dbi dbi) {
  MDB_stat stat{};
  check(mdb_stat(txn_, dbi, &stat), "mdb_stat");
  return stat.ms_entries;
}

kj::ArrayPtr<const capnp::word> Txn::keep(Words words) {
  kept_.push_back(kj::mv(words));
  return kept_.back().asPtr();
}

void Txn::commit() {
  MDB_txn* txn = txn_;
  txn_ = nullptr;  // mdb_txn_commit frees the handle even when it fails
  // Read-only commits cost nothing: only write commits are counted (LmdbCounters).
  std::optional<CommitMeter> meter;
  if (!readOnly_) meter.emplace(env_.raw(), txn);
  const int rc = mdb_txn_commit(txn);
  if (rc == MDB_SUCCESS) {
    if (meter) env_.count(meter->finish());
    return;
  }
  // Disk full leaves the committed state as it was (the meta page is written last); anything
  // else may have failed in or after the fsync: see LmdbEnv::write().
  if (!readOnly_ && rc != MDB_MAP_FULL && rc != ENOSPC && rc != EDQUOT) {
    env_.poison(rc, "mdb_txn_commit");
  }
  check(rc, "mdb_txn_commit");
}

// --- Cursor ---------------------------------------------------------------------------------

Cursor::Cursor(Txn& txn, MDB_dbi dbi) : txn_(txn) {
  txn_.check(mdb_cursor_open(txn.raw(), dbi, &cursor_), "mdb_cursor_open");
}

Cursor::~Cursor() { mdb_cursor_close(cursor_); }

bool Cursor::move(MDB_cursor_op op, Bytes key) {
  if (op == MDB_SET || op == MDB_SET_KEY || op == MDB_SET_RANGE) key_ = toVal(key);
  const int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
  if (rc == MDB_NOTFOUND) return false;
  txn_.check(rc, "mdb_cursor_get");
  return true;
}

Bytes Cursor::key() const noexcept { return fromVal(key_); }
Bytes Cursor::value() const noexcept { return fromVal(value_); }

// --- LmdbEnv --------------------------------------------------------------------------------

LmdbEnv::LmdbEnv(std::filesystem::path dir, const EnvOptions& options)
    : dir_(std::move(dir)), file_(dir_ / "data.mdb"), options_(options) {
  std::error_code ec;
  if (options_.readOnly) {
    if (!std::filesystem::exists(file_, ec)) {
      fail(ErrorKind::kPermanent, file_.string() + ": no such file (opening read-only)");
    }
  } else {
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
      fail(ErrorKind::kPermanent, dir_.string() + ": cannot create directory: " + ec.message());
    }
  }

  // A file shorter than its two meta pages would be read past its end: refuse before mapping.
  const auto sizeBefore = std::filesystem::file_size(file_, ec);
  if (!ec && sizeBefore > 0 && sizeBefore < kMinValidFileBytes) {
    fail(ErrorKind::kPermanent, file_.string() + " is truncated: " + std::to_string(sizeBefore) +
                                    " bytes, less than two LMDB pages");
  }

  checkMdb(mdb_env_create(&env_), "mdb_env_create", file_);
  try {
    // Read-only: keep the size the file records (0), so that opening never changes it.
    if (!options_.readOnly) {
      checkMdb(mdb_env_set_mapsize(env_, options_.initialMapBytes), "mdb_env_set_mapsize", file_);
    }
    checkMdb(mdb_env_set_maxreaders(env_, options_.maxReaders), "mdb_env_set_maxreaders", file_);
    checkMdb(mdb_env_set_maxdbs(env_, options_.maxDbs), "mdb_env_set_maxdbs", file_);
    const unsigned flags = MDB_NOTLS | (options_.durable ? 0u : unsigned{MDB_NOSYNC}) |
                           (options_.readOnly ? unsigned{MDB_RDONLY} : 0u);
    checkMdb(mdb_env_open(env_, dir_.c_str(), flags, 0644), "mdb_env_open", file_);

    // Pages past the end of the file would SIGBUS when touched. A file shorter than the last
    // page the newest meta page counts is walked page by page: only pages in use must be there.
    const MDB_envinfo envInfo = info();
    const std::uintmax_t needed = (std::uintmax_t{envInfo.me_last_pgno} + 1) * pageSize();
    const auto size = std::filesystem::file_size(file_, ec);
    if (ec) fail(ErrorKind::kPermanent, file_.string() + ": cannot stat: " + ec.message());
    if (size < needed && !pagesReachable(env_)) {
      fail(ErrorKind::kPermanent, file_.string() + " is truncated: " + std::to_string(size) +
                                      " bytes, but its last committed page ends at byte " +
                                      std::to_string(needed) + " and pages in use are missing");
    }
    int dead = 0;
    checkMdb(mdb_reader_check(env_, &dead), "mdb_reader_check", file_);
  } catch (...) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
}

LmdbEnv::~LmdbEnv() {
  if (env_ != nullptr) mdb_env_close(env_);
}

MDB_envinfo LmdbEnv::info() const {
  MDB_envinfo envInfo{};
  checkMdb(mdb_env_info(env_, &envInfo), "mdb_env_info", file_);
  return envInfo;
}

std::size_t LmdbEnv::pageSize() const {
  MDB_stat stat{};
  checkMdb(mdb_env_stat(env_, &stat), "mdb_env_stat", file_);
  return stat.ms_psize;
}

LmdbCounters LmdbEnv::counters() const noexcept {
  LmdbCounters snapshot;
  snapshot.commits = commits_.load(std::memory_order_relaxed);
  snapshot.syncs = syncs_.load(std::memory_order_relaxed);
  snapshot.pagesWritten = pagesWritten_.load(std::memory_order_relaxed);
  return snapshot;
}

void LmdbEnv::count(const LmdbCounters& commit) const noexcept {
  commits_.fetch_add(commit.commits, std::memory_order_relaxed);
  syncs_.fetch_add(commit.syncs, std::memory_order_relaxed);
  pagesWritten_.fetch_add(commit.pagesWritten, std::memory_order_relaxed);
}

std::optional<MDB_dbi> LmdbEnv::openDb(Txn& txn, const char* name, bool create) {
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn.raw(), name, create ? MDB_CREATE : 0u, &dbi);
  if (rc == MDB_NOTFOUND && !create) return std::nullopt;
  if (rc == MDB_INCOMPATIBLE) {
    fail(ErrorKind::kPermanent, file_.string() + ": '" + name +
                                    "' exists but is not a named database of the expected kind");
  }
  txn.check(rc, std::string("mdb_dbi_open(") + name + ")");
  return dbi;
}

void LmdbEnv::poison(int rc, std::string_view call) const {
  std::string reason = std::string(call) + " failed: " + mdb_strerror(rc);
  {
    std::lock_guard lock(poisonLock_);
    if (!poisoned_.load()) {
      poisonReason_ = reason;
      poisoned_.store(true);
    }
  }
  fail(ErrorKind::kBug, file_.string() + ": " + reason +
                            "; the environment is poisoned: after a failed write or fsync this "
                            "process no longer trusts its pages. Restart the process to reopen it");
}

void LmdbEnv::checkTrusted() const {
  if (!poisoned_.load()) return;
  std::string reason;
  {
    std::lock_guard lock(poisonLock_);
    reason = poisonReason_;
  }
  fail(ErrorKind::kBug, file_.string() + ": the environment is poisoned (" + reason +
                            " earlier in this process); restart the process to reopen it");
}

void LmdbEnv::check(int rc, std::string_view call) const {
  if (rc == EIO || rc == MDB_PANIC) poison(rc, call);
  checkMdb(rc, call, file_);
}

void LmdbEnv::write(const std::function<void(Txn&)>& body) {
  if (options_.readOnly) fail(ErrorKind::kBug, file_.string() + " was opened read-only: no writes");
  checkTrusted();
  for (;;) {
    switch (tryWrite(body)) {
      case Retry::kNo:
        return;
      case Retry::kGrow:
        grow();
        break;
      case Retry::kAdopt:
        adoptResize();
        break;
    }
  }
}

LmdbEnv::Retry LmdbEnv::tryWrite(const std::function<void(Txn&)>& body) {
  std::shared_lock lock(resizeLock_);  // released only after the transaction below has ended
  MDB_txn* raw = nullptr;
  const int rc = mdb_txn_begin(env_, nullptr, 0, &raw);
  if (rc == MDB_MAP_RESIZED) return Retry::kAdopt;
  try {
    check(rc, "mdb_txn_begin");
  } catch (const MapFullSignal&) {
    return Retry::kGrow;
  }
  Txn txn(*this, raw, false);
  try {
    body(txn);
    // The body may have caught the signal; LMDB has poisoned the transaction all the same.
    if (txn.mapFull_) return Retry::kGrow;
    txn.commit();
  } catch (const MapFullSignal&) {
    return Retry::kGrow;  // ~Txn aborts before the lock is released
  }
  return Retry::kNo;
}

void LmdbEnv::grow() {
  std::unique_lock lock(resizeLock_);  // no transaction of this process is open now
  const std::size_t current = info().me_mapsize;
  if (current >= options_.maxMapBytes) {
    fail(ErrorKind::kOverloaded, file_.string() + ": the map is full at its maximum of " +
                                     std::to_string(options_.maxMapBytes) + " bytes");
  }
  const std::size_t next = current > options_.maxMapBytes / 2 ? options_.maxMapBytes : current * 2;
  check(mdb_env_set_mapsize(env_, next), "mdb_env_set_mapsize");
}

void LmdbEnv::adoptResize() const {
  std::unique_lock lock(resizeLock_);
  // Size 0 adopts the size another process recorded when it grew the map.
  checkMdb(mdb_env_set_mapsize(env_, 0), "mdb_env_set_mapsize", file_);
}

void LmdbEnv::read(const std::function<void(Txn&)>& body) const { readTxn(body, false); }

void LmdbEnv::readKeepingDbs(const std::function<void(Txn&)>& body) { readTxn(body, true); }

void LmdbEnv::readTxn(const std::function<void(Txn&)>& body, bool keepDbs) const {
  checkTrusted();
  for (;;) {
    std::shared_lock lock(resizeLock_);
    MDB_txn* raw = nullptr;
    const int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw);
    if (rc == MDB_MAP_RESIZED) {
      lock.unlock();
      adoptResize();
      continue;
    }
    check(rc, "mdb_txn_begin(read-only)");
    Txn txn(*this, raw, true);
    body(txn);
    // A read-only commit writes nothing; it keeps the database handles opened in it.
    if (keepDbs) txn.commit();
    return;  // otherwise ~Txn aborts: read-only transactions have nothing to commit
  }
}

}  // namespace idem::store
