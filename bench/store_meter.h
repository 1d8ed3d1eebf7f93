// StoreMeter: what the commits to one LMDB environment cost over the timed part of a benchmark,
// measured from outside the code that commits, so that idem (whose LmdbEnv the Endpoint does
// not expose) and the raw-LMDB baselines are measured the same way.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <filesystem>

#include "bench/report.h"

namespace idem::bench {

// The LMDB flags idem's LmdbEnv commits under for `durable` (EnvOptions::durable: MDB_NOSYNC
// when false). An assumption about idem's store, not a reading of it: when the store gains an
// option that changes its flags (MDB_NOMETASYNC), this must follow, or better, the benchmark
// must read the store's own LmdbCounters once the Endpoint exposes them.
unsigned idemEnvFlags(bool durable);

// Measures, between its construction and finish():
//   commits       the growth of the environment's last transaction id (mdb_env_info), read
//                 through a second handle opened MDB_RDONLY | MDB_NOLOCK on the same directory:
//                 exact, whoever commits (LMDB gives only commits that changed something an id);
//   syncs         commits x store::syncsPerCommit(envFlags): derived from the flags the caller
//                 names, not observed;
//   pagesWritten  the growth of this process's /proc/self/io "wchar" (bytes passed to write
//                 calls, every thread) divided by the page size: the commits' dirty pages plus
//                 LMDB's ~120-byte meta write per commit (< 0.03 page each); anything else the
//                 process writes meanwhile counts too, so the window must contain nothing but
//                 the store's work (true of the store-only rows: MemoryTransport writes nothing).
//                 0 when /proc/self/io cannot be read.
// MDB_NOLOCK opens no lock file, so the second handle leaves the writer's locks alone (LMDB locks
// only lock.mdb); it only reads the meta pages. Not thread-safe; `dir` must hold an environment.
class StoreMeter {
 public:
  StoreMeter(const std::filesystem::path& dir, unsigned envFlags);
  ~StoreMeter();
  StoreMeter(const StoreMeter&) = delete;
  StoreMeter& operator=(const StoreMeter&) = delete;

  // The cost of the commits since construction, over `messages` messages in `batches` batches.
  StoreCost finish(std::uint64_t messages, std::uint64_t batches) const;

 private:
  std::uint64_t lastTxnId() const;

  MDB_env* probe_ = nullptr;
  unsigned envFlags_;
  std::uint64_t txnIdAtStart_ = 0;
  std::uint64_t writtenAtStart_ = 0;
};

}  // namespace idem::bench
