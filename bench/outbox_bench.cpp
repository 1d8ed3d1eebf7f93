// Outbox baseline: the same counter with the classic transactional-outbox strategy on LMDB
// (state + processed id + outgoing message in one transaction; dispatch; then a second
// transaction marks them dispatched by deleting them), against idem over the same transport.
#include <optional>

#include "bench/bench_endpoint.h"
#include "bench/benchmarks.h"
#include "bench/raw_lmdb.h"
#include "idem/canonical.h"

namespace idem::bench {

namespace {

Figures outboxRun(const Settings& s, std::map<std::string, std::uint64_t>& liveBytes) {
  ScratchDir dir("outbox");
  std::optional<RawLmdb> env(std::in_place, dir.path(), s.durable);
  const MDB_dbi state = env->db("state");          // entity key -> canonical Counter
  const MDB_dbi processed = env->db("processed");  // input id -> (empty): deduplication
  const MDB_dbi outbox = env->db("outbox");        // output id -> envelope, until dispatched
  MemoryTransport transport;

  auto processBatch = [&] {
    std::vector<Delivery> batch = transport.receive(kEndpointName, s.batch, {});
    std::vector<Outbound> outputs;
    env->write([&](MDB_txn* txn) {
      outputs.clear();
      for (const Delivery& d : batch) {
        const IncrementFacts in = incrementFacts(d.envelope);
        const auto id = std::as_bytes(std::span(in.id.bytes));
        if (get(txn, processed, id)) continue;  // duplicate: already applied
        const auto key = std::as_bytes(std::span(in.counterId.data(), in.counterId.size()));
        std::uint64_t value = 0;
        if (auto old = get(txn, state, key)) {
          CanonicalReader reader(*old, "state");
          value = reader.root<Counter>().getValue();
        }
        capnp::MallocMessageBuilder next;
        next.initRoot<Counter>().setValue(++value);
        const Words canonical = canonicalOf(next.getRoot<Counter>().asReader());
        put(txn, state, key, asBytes(canonical.asPtr()));
        put(txn, processed, id, {});
        Outbound out = countedOutbound(in, value);
        put(txn, outbox, std::as_bytes(std::span(out.id.bytes)), out.envelope);
        outputs.push_back(std::move(out));
      }
    });
    transport.publish(outputs);     // dispatch
    env->write([&](MDB_txn* txn) {  // mark dispatched
      for (const Outbound& out : outputs) del(txn, outbox, std::as_bytes(std::span(out.id.bytes)));
    });
    return batch.size();
  };

  for (std::uint64_t e = 1; e <= s.entities; ++e) transport.inject(incrementEnvelope(e, e, "warm"));
  while (transport.pending() > 0) processBatch();
  for (std::uint64_t i = 0; i < s.messages; ++i) {
    transport.inject(incrementEnvelope(i, entityOf(i, s.entities)));
  }
  std::vector<double> latencies;
  const auto start = Clock::now();
  while (transport.pending() > 0) {
    const auto batchStart = Clock::now();
    const std::size_t n = processBatch();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - batchStart).count();
    latencies.insert(latencies.end(), n, ms);
  }
  const double seconds = secondsSince(start);
  liveBytes = env->pageBytes();
  return {static_cast<double>(s.messages) / seconds, percentile(latencies, 50),
          percentile(latencies, 99)};
}

double perMessage(const std::map<std::string, std::uint64_t>& bytes, const Settings& s) {
  return static_cast<double>(bytes.at("total")) / static_cast<double>(s.messages + s.entities);
}

}  // namespace

std::vector<Row> runOutbox(const Settings& s) {
  std::vector<Figures> idemRuns, outboxRuns;
  std::map<std::string, std::uint64_t> idemBytes, outboxBytes;
  for (unsigned run = 0; run < s.runs; ++run) {
    idemRuns.push_back(runIdemOverMemory(s, &idemBytes));
    outboxRuns.push_back(outboxRun(s, outboxBytes));
  }
  const Figures i = medianOf(idemRuns), o = medianOf(outboxRuns);
  auto breakdown = [&](const std::map<std::string, std::uint64_t>& bytes) {
    std::string out;
    for (const auto& [name, b] : bytes) {
      if (name == "total" || b == 0) continue;
      out += (out.empty() ? "" : " ") + name + " " +
             fixed(static_cast<double>(b) / static_cast<double>(s.messages + s.entities), 0);
    }
    return out;
  };
  const double ib = perMessage(idemBytes, s), ob = perMessage(outboxBytes, s);
  std::vector<Row> rows;
  rows.push_back({"Outbox comparison: throughput (store only, same batches)",
                  thousands(i.perSecond) + " msg/s", "outbox " + thousands(o.perSecond) + " msg/s",
                  i.perSecond / o.perSecond, ">= 1.3x",
                  i.perSecond >= 1.3 * o.perSecond ? "met" : "NOT met"});
  rows.push_back({"Outbox comparison: live bytes stored per message (pages / messages)",
                  fixed(ib, 0) + " B (" + breakdown(idemBytes) + ")",
                  "outbox " + fixed(ob, 0) + " B (" + breakdown(outboxBytes) + ")", ib / ob, "< 1x",
                  ib < ob ? "met" : "NOT met"});
  return rows;
}

}  // namespace idem::bench
