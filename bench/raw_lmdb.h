// RawLmdb: the bare LMDB API with no idem layer, for the baselines ("the physical limit") and
// for reading page statistics of any environment. Benchmarks only: idem's own code reaches LMDB
// solely through store/, but a baseline measured through idem's wrappers would not be a baseline.
#pragma once

#include <lmdb.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>

namespace idem::bench {

// Throws std::runtime_error naming `call` when rc != 0.
void checkMdb(int rc, const char* call);

class RawLmdb {
 public:
  // Opens (creating) the environment in directory `dir`. durable=false: MDB_NOSYNC.
  RawLmdb(const std::filesystem::path& dir, bool durable,
          std::size_t mapBytes = std::size_t{64} << 30);
  ~RawLmdb();
  RawLmdb(const RawLmdb&) = delete;
  RawLmdb& operator=(const RawLmdb&) = delete;

  // Opens or creates the named database.
  MDB_dbi db(const char* name);

  // One write transaction around `body`, committed (synced when durable). Aborts on exception.
  void write(const std::function<void(MDB_txn*)>& body);

  // Bytes in pages (branch + leaf + overflow) of each named database, and "total".
  std::map<std::string, std::uint64_t> pageBytes();

  MDB_env* raw() const { return env_; }
  // The environment's flags (mdb_env_get_flags), e.g. MDB_NOSYNC when not durable.
  unsigned flags() const;

 private:
  MDB_env* env_ = nullptr;
};

inline MDB_val val(std::span<const std::byte> bytes) {
  return {bytes.size(), const_cast<std::byte*>(bytes.data())};
}
void put(MDB_txn* txn, MDB_dbi dbi, std::span<const std::byte> key,
         std::span<const std::byte> value);
bool del(MDB_txn* txn, MDB_dbi dbi, std::span<const std::byte> key);
std::optional<std::span<const std::byte>> get(MDB_txn* txn, MDB_dbi dbi,
                                              std::span<const std::byte> key);

// Big-endian u64 pair, the layout of idem's history and snapshot keys.
std::array<std::byte, 16> key16(std::uint64_t a, std::uint64_t b);

}  // namespace idem::bench
