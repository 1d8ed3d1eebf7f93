// VersionStore's private parts, shared by the files that implement it (version_store.cpp: the
// records; version_store_retention.cpp: pruning): key encodings, value layouts and the open
// databases.
// Private to store/: includes <lmdb.h> through lmdb_env.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "idem/canonical.h"
#include "idem/error.h"
#include "store/lmdb_env.h"
#include "store/version_store.h"

namespace idem::store {

using Key16 = std::array<std::byte, 16>;
using Key8 = std::array<std::byte, 8>;

inline constexpr std::uint64_t kLastVersion = ~std::uint64_t{0};

inline void putBe64(std::byte* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::byte>(v & 0xff);
    v >>= 8;
  }
}

inline std::uint64_t getBe64(const std::byte* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(in[i]);
  return v;
}

inline Key8 key8(std::uint64_t a) {
  Key8 k;
  putBe64(k.data(), a);
  return k;
}

inline Key16 key16(std::uint64_t a, std::uint64_t b) {
  Key16 k;
  putBe64(k.data(), a);
  putBe64(k.data() + 8, b);
  return k;
}

inline Bytes idBytes(const MessageId& id) { return std::as_bytes(std::span(id.bytes)); }

struct VersionStore::Impl {
  Impl(std::filesystem::path d, const StoreOptions& o)
      : env(std::move(d),
            EnvOptions{o.initialMapBytes, o.maxMapBytes, o.maxReaders, 8, o.durable, o.readOnly}) {}

  LmdbEnv env;
  std::string endpoint;
  MDB_dbi meta = 0, entities = 0, entityNames = 0, log = 0, heads = 0, bases = 0, applied = 0,
          owed = 0;

  // What the current write transaction appended (write() is serialised by LMDB's write lock, so
  // one per store): the next seq once known, and the range of records with outputs, which
  // becomes one entry of the publication set when the body returns.
  struct Pending {
    std::uint64_t nextSeq = 0;  // 0: not looked up yet (then prunedThrough is not either)
    std::uint64_t prunedThrough = 0;
    std::uint64_t owedFirst = 0, owedLast = 0;
  } pending;
  void addOwed(Txn& txn, std::uint64_t first, std::uint64_t last) const;

  [[noreturn]] void damaged(const std::string& what) const {
    fail(ErrorKind::kPermanent, env.file().string() + ": damaged version store: " + what);
  }

  // `value` read as canonical words: in place when aligned, else from a copy owned by `txn`.
  kj::ArrayPtr<const capnp::word> readAligned(Txn& txn, Bytes value) const {
    if (reinterpret_cast<std::uintptr_t>(value.data()) % alignof(capnp::word) == 0) {
      return {reinterpret_cast<const capnp::word*>(value.data()), value.size() / 8};
    }
    Words copy = kj::heapArray<capnp::word>(value.size() / 8);
    std::memcpy(copy.begin(), value.data(), copy.size() * 8);
    return txn.keep(kj::mv(copy));
  }

  // An applied value: entity ‖ version ‖ appliedAtNs ‖ seq (32 bytes). Throws Error
  // (permanent) on any other size.
  Applied decodeApplied(Bytes value, const MessageId& input) const;
  // A heads value: version ‖ seq ‖ state (24 + a whole number of words).
  Head decodeHead(Txn& txn, Bytes value, std::uint64_t entity) const;
  // A bases value: version ‖ state.
  Snapshot decodeBase(Txn& txn, Bytes value, std::uint64_t entity) const;
  LogRecord decodeRecord(Txn& txn, Bytes value, std::uint64_t seq) const;
  // Writes the head of `entity`: version, record, and the state bytes (copied).
  void putHead(Txn& txn, std::uint64_t entity, std::uint64_t version, std::uint64_t seq,
               std::span<const std::byte> state) const;
  void putBase(Txn& txn, std::uint64_t entity, std::uint64_t version,
               std::span<const std::byte> state) const;
  // meta "log-pruned-through" (0 when absent).
  std::uint64_t prunedThrough(Txn& txn) const;

  void requireWrite(const Txn& txn, const char* what) const {
    if (txn.readOnly()) fail(ErrorKind::kBug, std::string(what) + " needs a write transaction");
  }
};

}  // namespace idem::store
