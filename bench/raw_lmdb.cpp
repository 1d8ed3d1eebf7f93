// RawLmdb: the bare LMDB calls of the baselines.
#include "bench/raw_lmdb.h"

#include <stdexcept>

namespace idem::bench {

void checkMdb(int rc, const char* call) {
  if (rc != 0) throw std::runtime_error(std::string(call) + ": " + mdb_strerror(rc));
}

RawLmdb::RawLmdb(const std::filesystem::path& dir, bool durable, std::size_t mapBytes) {
  std::filesystem::create_directories(dir);
  checkMdb(mdb_env_create(&env_), "mdb_env_create");
  checkMdb(mdb_env_set_mapsize(env_, mapBytes), "mdb_env_set_mapsize");
  checkMdb(mdb_env_set_maxdbs(env_, 16), "mdb_env_set_maxdbs");
  const unsigned flags = MDB_NOTLS | (durable ? 0u : unsigned{MDB_NOSYNC});
  const int rc = mdb_env_open(env_, dir.c_str(), flags, 0644);
  if (rc != 0) {
    mdb_env_close(env_);
    checkMdb(rc, "mdb_env_open");
  }
}

RawLmdb::~RawLmdb() { mdb_env_close(env_); }

unsigned RawLmdb::flags() const {
  unsigned flags = 0;
  checkMdb(mdb_env_get_flags(env_, &flags), "mdb_env_get_flags");
  return flags;
}

MDB_dbi RawLmdb::db(const char* name) {
  MDB_dbi dbi = 0;
  write([&](MDB_txn* txn) { checkMdb(mdb_dbi_open(txn, name, MDB_CREATE, &dbi), "mdb_dbi_open"); });
  return dbi;
}

void RawLmdb::write(const std::function<void(MDB_txn*)>& body) {
  MDB_txn* txn = nullptr;
  checkMdb(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
  try {
    body(txn);
  } catch (...) {
    mdb_txn_abort(txn);
    throw;
  }
  checkMdb(mdb_txn_commit(txn), "mdb_txn_commit");
}

std::map<std::string, std::uint64_t> RawLmdb::pageBytes() {
  std::map<std::string, std::uint64_t> out;
  MDB_txn* txn = nullptr;
  checkMdb(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
  MDB_dbi mainDb = 0;
  checkMdb(mdb_dbi_open(txn, nullptr, 0, &mainDb), "mdb_dbi_open");
  MDB_cursor* cursor = nullptr;
  checkMdb(mdb_cursor_open(txn, mainDb, &cursor), "mdb_cursor_open");
  MDB_val k, v;
  std::uint64_t total = 0;
  for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    const std::string name(static_cast<const char*>(k.mv_data), k.mv_size);
    MDB_dbi dbi = 0;
    if (mdb_dbi_open(txn, name.c_str(), 0, &dbi) != 0) continue;  // a plain key, not a db
    MDB_stat st;
    checkMdb(mdb_stat(txn, dbi, &st), "mdb_stat");
    const std::uint64_t bytes =
        std::uint64_t{st.ms_psize} * (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages);
    out[name] = bytes;
    total += bytes;
  }
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  out["total"] = total;
  return out;
}

void put(MDB_txn* txn, MDB_dbi dbi, std::span<const std::byte> key,
         std::span<const std::byte> value) {
  MDB_val k = val(key), v = val(value);
  checkMdb(mdb_put(txn, dbi, &k, &v, 0), "mdb_put");
}

bool del(MDB_txn* txn, MDB_dbi dbi, std::span<const std::byte> key) {
  MDB_val k = val(key);
  const int rc = mdb_del(txn, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  checkMdb(rc, "mdb_del");
  return true;
}

std::optional<std::span<const std::byte>> get(MDB_txn* txn, MDB_dbi dbi,
                                              std::span<const std::byte> key) {
  MDB_val k = val(key), v;
  const int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkMdb(rc, "mdb_get");
  return std::span(static_cast<const std::byte*>(v.mv_data), v.mv_size);
}

std::array<std::byte, 16> key16(std::uint64_t a, std::uint64_t b) {
  std::array<std::byte, 16> k;
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<std::byte>(a & 0xff);
    k[8 + i] = static_cast<std::byte>(b & 0xff);
    a >>= 8;
    b >>= 8;
  }
  return k;
}

}  // namespace idem::bench
