// The raw append-log baseline.
#include "bench/raw_append_log.h"

#include <cstring>
#include <vector>

#include "bench/bench_endpoint.h"
#include "bench/raw_lmdb.h"
#include "bench/store_meter.h"

namespace idem::bench {

namespace {

void putBe(std::byte* out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out[i] = static_cast<std::byte>(value & 0xff);
    value >>= 8;
  }
}

std::array<std::byte, 8> be64(std::uint64_t value) {
  std::array<std::byte, 8> out;
  putBe(out.data(), value, 8);
  return out;
}

struct Head {
  std::uint64_t version = 0;
  std::uint64_t lastSeq = 0;
};

}  // namespace

Figures rawAppendLog(const Settings& s, std::size_t stateBytes) {
  ScratchDir dir("append-log");
  RawLmdb env(dir.path(), s.durable);
  const MDB_dbi log = env.db("log");
  const MDB_dbi heads = env.db("heads");
  std::vector<Head> head(s.entities + 1);
  std::uint64_t seq = 0;
  std::vector<std::byte> record;
  std::vector<std::byte> headValue(16 + stateBytes, std::byte{0x3c});
  auto writeOne = [&](MDB_txn* txn, const Bytes& envelope, std::uint64_t entity) {
    Head& h = head[entity];
    record.assign(kLogHeaderBytes + envelope.size(), std::byte{0x5a});
    putBe(record.data(), entity, 8);
    putBe(record.data() + 8, h.version + 1, 8);
    putBe(record.data() + 16, h.lastSeq, 8);
    putBe(record.data() + 24, static_cast<std::uint64_t>(nowNs()), 8);
    putBe(record.data() + 32, 1, 4);  // handler version
    putBe(record.data() + 36, 1, 4);  // output count
    std::memcpy(record.data() + kLogHeaderBytes, envelope.data(), envelope.size());
    const auto key = be64(++seq);
    MDB_val k = val(key), v = val(record);
    checkMdb(mdb_put(txn, log, &k, &v, MDB_APPEND), "mdb_put(log, MDB_APPEND)");
    h = {h.version + 1, seq};
    putBe(headValue.data(), h.version, 8);
    putBe(headValue.data() + 8, h.lastSeq, 8);
    put(txn, heads, be64(entity), headValue);
  };

  for (std::uint64_t first = 1; first <= s.entities; first += s.batch) {
    env.write([&](MDB_txn* txn) {
      for (std::uint64_t e = first; e < first + s.batch && e <= s.entities; ++e) {
        writeOne(txn, incrementEnvelope(e, e, "warm"), e);
      }
    });
  }
  std::vector<Bytes> envelopes(s.messages);
  std::vector<std::uint64_t> entities(s.messages);
  for (std::uint64_t i = 0; i < s.messages; ++i) {
    entities[i] = entityOf(i, s.entities);
    envelopes[i] = incrementEnvelope(i, entities[i]);
  }
  std::vector<double> latencies;
  std::uint64_t batches = 0;
  const StoreMeter meter(dir.path(), env.flags());
  const auto start = Clock::now();
  for (std::uint64_t first = 0; first < s.messages; first += s.batch) {
    const auto batchStart = Clock::now();
    const std::uint64_t end = std::min<std::uint64_t>(first + s.batch, s.messages);
    env.write([&](MDB_txn* txn) {
      for (std::uint64_t i = first; i < end; ++i) writeOne(txn, envelopes[i], entities[i]);
    });
    ++batches;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - batchStart).count();
    latencies.insert(latencies.end(), end - first, ms);
  }
  const double seconds = secondsSince(start);
  return {static_cast<double>(s.messages) / seconds, percentile(latencies, 50),
          percentile(latencies, 99), meter.finish(s.messages, batches)};
}

}  // namespace idem::bench
