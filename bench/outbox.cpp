// Outbox baselines: classic (two commits per batch) and tuned (one).
#include "bench/outbox.h"

#include <optional>
#include <vector>

#include "bench/bench_endpoint.h"
#include "bench/raw_lmdb.h"
#include "bench/store_meter.h"
#include "idem/canonical.h"

namespace idem::bench {

namespace {

std::array<std::byte, 8> be64(std::uint64_t value) {
  std::array<std::byte, 8> out;
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::byte>(value & 0xff);
    value >>= 8;
  }
  return out;
}

struct Handled {
  MessageId input;
  Outbound output;
};

// The handler's work, identical in both strategies but for the builder's first segment: reads
// the entity's state, writes value + 1 and the processed id, and returns the Counted output.
// nullopt for a duplicate.
std::optional<Handled> handle(MDB_txn* txn, MDB_dbi state, MDB_dbi processed, const Delivery& d,
                              OutboxKind kind) {
  const IncrementFacts in = incrementFacts(d.envelope);
  const auto id = std::as_bytes(std::span(in.id.bytes));
  if (get(txn, processed, id)) return std::nullopt;  // duplicate: already applied
  const auto key = std::as_bytes(std::span(in.counterId.data(), in.counterId.size()));
  std::uint64_t value = 0;
  if (auto old = get(txn, state, key)) {
    CanonicalReader reader(*old, "state");
    value = reader.root<Counter>().getValue();
  }
  std::optional<capnp::MallocMessageBuilder> next;
  if (kind == OutboxKind::kTuned) {
    next.emplace(kBuilderFirstSegmentWords);
  } else {
    next.emplace();
  }
  next->initRoot<Counter>().setValue(++value);
  const Words canonical = canonicalOf(next->getRoot<Counter>().asReader());
  put(txn, state, key, asBytes(canonical.asPtr()));
  put(txn, processed, id, {});
  return Handled{in.id, countedOutbound(in, value)};
}

}  // namespace

OutboxRun runOutboxOnce(const Settings& s, OutboxKind kind, bool horizonsZero) {
  ScratchDir dir(kind == OutboxKind::kTuned ? "outbox-tuned" : "outbox-classic");
  std::optional<RawLmdb> env(std::in_place, dir.path(), s.durable);
  const MDB_dbi state = env->db("state");          // entity key -> canonical Counter
  const MDB_dbi processed = env->db("processed");  // input id -> (empty): deduplication
  const MDB_dbi outbox = env->db("outbox");  // classic: output id, tuned: be64(seq) -> envelope
  MemoryTransport transport;
  std::vector<Outbound> outputs;
  std::vector<MessageId> dispatchedInputs;  // tuned: the inputs of the previous batch's outputs
  std::uint64_t nextSeq = 1, firstUndeleted = 1;

  auto classicBatch = [&](const std::vector<Delivery>& batch) {
    env->write([&](MDB_txn* txn) {
      outputs.clear();
      for (const Delivery& d : batch) {
        std::optional<Handled> done = handle(txn, state, processed, d, kind);
        if (!done) continue;
        Outbound& out = done->output;
        put(txn, outbox, std::as_bytes(std::span(out.id.bytes)), out.envelope);
        outputs.push_back(std::move(out));
      }
    });
    transport.publish(outputs);     // dispatch
    env->write([&](MDB_txn* txn) {  // mark dispatched
      for (const Outbound& out : outputs) del(txn, outbox, std::as_bytes(std::span(out.id.bytes)));
    });
  };
  auto tunedBatch = [&](const std::vector<Delivery>& batch) {
    std::vector<MessageId> inputs;
    env->write([&](MDB_txn* txn) {
      // 1. What the previous batch dispatched after its commit.
      for (; firstUndeleted < nextSeq; ++firstUndeleted) del(txn, outbox, be64(firstUndeleted));
      if (horizonsZero) {
        for (const MessageId& id : dispatchedInputs) {
          del(txn, processed, std::as_bytes(std::span(id.bytes)));
        }
      }
      // 2. This batch.
      outputs.clear();
      for (const Delivery& d : batch) {
        std::optional<Handled> done = handle(txn, state, processed, d, kind);
        if (!done) continue;
        const auto key = be64(nextSeq++);
        MDB_val k = val(key), v = val(done->output.envelope);
        checkMdb(mdb_put(txn, outbox, &k, &v, MDB_APPEND), "mdb_put(outbox, MDB_APPEND)");
        if (horizonsZero) inputs.push_back(done->input);
        outputs.push_back(std::move(done->output));
      }
    });
    transport.publish(outputs);  // dispatch; the rows go in the next batch's transaction
    dispatchedInputs = std::move(inputs);
  };
  std::uint64_t batches = 0;
  auto processBatch = [&] {
    const std::vector<Delivery> batch = transport.receive(kEndpointName, s.batch, {});
    if (kind == OutboxKind::kTuned) {
      tunedBatch(batch);
    } else {
      classicBatch(batch);
    }
    ++batches;
    return batch.size();
  };

  for (std::uint64_t e = 1; e <= s.entities; ++e) transport.inject(incrementEnvelope(e, e, "warm"));
  while (transport.pending() > 0) processBatch();
  for (std::uint64_t i = 0; i < s.messages; ++i) {
    transport.inject(incrementEnvelope(i, entityOf(i, s.entities)));
  }
  std::vector<double> latencies;
  batches = 0;
  const StoreMeter meter(dir.path(), env->flags());
  const auto start = Clock::now();
  while (transport.pending() > 0) {
    const auto batchStart = Clock::now();
    const std::size_t n = processBatch();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - batchStart).count();
    latencies.insert(latencies.end(), n, ms);
  }
  const double seconds = secondsSince(start);
  OutboxRun run;
  run.figures = {static_cast<double>(s.messages) / seconds, percentile(latencies, 50),
                 percentile(latencies, 99), meter.finish(s.messages, batches)};
  run.liveBytes = env->pageBytes();
  return run;
}

}  // namespace idem::bench
