// CommitMeter: what one LMDB write commit cost (LmdbCounters), for LmdbEnv's counters.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "store/lmdb_env.h"

namespace idem::store {

// Measures one write commit for LmdbCounters: created just before mdb_txn_commit, finish() just
// after it succeeded, on the same thread.
class CommitMeter {
 public:
  CommitMeter(MDB_env* env, MDB_txn* txn) noexcept;
  // The commit's cost; all zero when it changed nothing (LMDB wrote and synced nothing).
  LmdbCounters finish() const noexcept;

 private:
  MDB_env* env_;
  std::size_t id_;
  unsigned flags_ = 0;
  std::optional<std::uint64_t> writtenBefore_;
};

}  // namespace idem::store
