// StoreMeter: transaction ids through a lock-free read-only handle, written bytes from /proc.
#include "bench/store_meter.h"

#include <fstream>
#include <string>

#include "bench/raw_lmdb.h"
#include "store/lmdb_env.h"

namespace idem::bench {

namespace {

// This process's "wchar" (bytes passed to write calls), or 0 when /proc/self/io is unreadable.
std::uint64_t processWrittenBytes() {
  std::ifstream io("/proc/self/io");
  std::string field;
  std::uint64_t value = 0;
  while (io >> field >> value) {
    if (field == "wchar:") return value;
  }
  return 0;
}

}  // namespace

unsigned idemEnvFlags(bool durable) { return durable ? 0u : unsigned{MDB_NOSYNC}; }

StoreMeter::StoreMeter(const std::filesystem::path& dir, unsigned envFlags) : envFlags_(envFlags) {
  checkMdb(mdb_env_create(&probe_), "mdb_env_create");
  const int rc = mdb_env_open(probe_, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644);
  if (rc != 0) {
    mdb_env_close(probe_);
    checkMdb(rc, "mdb_env_open(probe)");
  }
  txnIdAtStart_ = lastTxnId();
  writtenAtStart_ = processWrittenBytes();
}

StoreMeter::~StoreMeter() { mdb_env_close(probe_); }

std::uint64_t StoreMeter::lastTxnId() const {
  MDB_envinfo info{};
  checkMdb(mdb_env_info(probe_, &info), "mdb_env_info");
  return info.me_last_txnid;
}

StoreCost StoreMeter::finish(std::uint64_t messages, std::uint64_t batches) const {
  const std::uint64_t written = processWrittenBytes();
  MDB_stat stat{};
  checkMdb(mdb_env_stat(probe_, &stat), "mdb_env_stat");
  StoreCost cost;
  cost.messages = messages;
  cost.batches = batches;
  cost.commits = lastTxnId() - txnIdAtStart_;
  cost.syncs = cost.commits * store::syncsPerCommit(envFlags_);
  if (written >= writtenAtStart_ && stat.ms_psize > 0) {
    cost.pagesWritten = (written - writtenAtStart_) / stat.ms_psize;
  }
  return cost;
}

}  // namespace idem::bench
