// End to end: the pipeline over MemoryTransport (store only) and over the embedded bus (store +
// bus, sender and observer in other threads), beside the raw append log, raw LMDB writing the
// records of store format 1 in the same batches, and a bus-only relay (consume, publish, ack; no
// state).
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "bench/bench_endpoint.h"
#include "bench/benchmarks.h"
#include "bench/bus_rig.h"
#include "bench/raw_append_log.h"
#include "bench/raw_lmdb.h"
#include "bench/store_meter.h"
#include "idem/canonical.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "store/records.capnp.h"

namespace idem::bench {

namespace {

// Sizes of the records store format 1 wrote per message, from a real envelope: the history value
// (a canonical HistoryRecord holding the input envelope), the snapshot (canonical Counter) and the
// applied entry (16-byte id -> entity, version).
struct RecordSizes {
  std::size_t history = 0;
  std::size_t snapshot = 0;
};

RecordSizes recordSizes() {
  RecordSizes sizes;
  const Bytes envelope = incrementEnvelope(123456, 4321);
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<store::records::HistoryRecord>();
  record.setHandlerId("increment");
  record.setHandlerVersion(1);
  record.setOutputCount(1);
  record.setRecordedAtNs(1'770'000'000'000'000'000);
  std::array<kj::byte, 32> digest{};
  record.setOutputDigest(kj::arrayPtr(digest.data(), digest.size()));
  record.setStateChanged(true);
  record.setInput(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(envelope.data()), envelope.size()));
  sizes.history = canonicalOf(record.asReader()).size() * sizeof(capnp::word);
  sizes.snapshot = counterStateBytes();
  return sizes;
}

}  // namespace

Figures runIdemOverMemory(const Settings& s, std::map<std::string, std::uint64_t>* liveBytes,
                          bool horizonsZero) {
  ScratchDir dir("e2e-memory");
  MemoryTransport transport;
  EndpointOptions options;
  options.storeDirectory = dir.path() / "store";
  options.batchSize = s.batch;
  options.durable = s.durable;
  options.batchWait = std::chrono::milliseconds{0};
  if (horizonsZero) {
    options.retention.historyHorizon = std::chrono::nanoseconds{0};
    options.retention.appliedHorizon = std::chrono::nanoseconds{0};
  }
  std::optional<Endpoint> endpoint(std::in_place, counterHandlers(), transport, options);
  // Warm-up: every entity gets its first version (creation is not the steady state).
  for (std::uint64_t e = 1; e <= s.entities; ++e) transport.inject(incrementEnvelope(e, e, "warm"));
  while (transport.pending() > 0) endpoint->processBatch();

  for (std::uint64_t i = 0; i < s.messages; ++i) {
    transport.inject(incrementEnvelope(i, entityOf(i, s.entities)));
  }
  std::vector<double> latencies;
  latencies.reserve(s.messages);
  std::uint64_t batches = 0;
  const StoreMeter meter(options.storeDirectory, idemEnvFlags(s.durable));
  const auto start = Clock::now();
  while (transport.pending() > 0) {
    const auto batchStart = Clock::now();
    const std::size_t n = endpoint->processBatch();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - batchStart).count();
    latencies.insert(latencies.end(), n, ms);
    ++batches;
  }
  const double seconds = secondsSince(start);
  const StoreCost cost = meter.finish(s.messages, batches);
  if (transport.failures() > 0) throw std::runtime_error("e2e: inputs failed");
  if (horizonsZero) {
    // Records the last confirmations, as a graceful stop does, so that the sweeps see them.
    std::stop_source stop;
    stop.request_stop();
    endpoint->run(stop.get_token());
  }
  endpoint.reset();  // closes the store, so that its pages can be counted
  if (liveBytes) *liveBytes = RawLmdb(options.storeDirectory, false).pageBytes();
  return {static_cast<double>(s.messages) / seconds, percentile(latencies, 50),
          percentile(latencies, 99), cost};
}

namespace {

// Raw LMDB writing what store format 1 wrote per message (history + snapshot + applied, same key
// layouts, same ids, same value sizes) in the same batch sizes: the limit of that layout, kept
// for comparison with the runs made before format 2.
Figures rawStore(const Settings& s, const RecordSizes& sizes) {
  ScratchDir dir("e2e-raw");
  RawLmdb env(dir.path(), s.durable);
  const MDB_dbi history = env.db("history");
  const MDB_dbi snapshots = env.db("snapshots");
  const MDB_dbi applied = env.db("applied");
  const std::vector<std::byte> historyValue(sizes.history, std::byte{0x5a});
  const std::vector<std::byte> snapshotValue(sizes.snapshot, std::byte{0x3c});
  std::vector<std::uint64_t> head(s.entities + 1, 0);
  auto writeOne = [&](MDB_txn* txn, const MessageId& id, std::uint64_t entity) {
    const auto where = key16(entity, ++head[entity]);
    put(txn, history, where, historyValue);
    put(txn, snapshots, where, snapshotValue);
    put(txn, applied, std::as_bytes(std::span(id.bytes)), where);
  };
  for (std::uint64_t first = 1; first <= s.entities; first += s.batch) {
    env.write([&](MDB_txn* txn) {
      for (std::uint64_t e = first; e < first + s.batch && e <= s.entities; ++e) {
        writeOne(txn, edgeId(e, "warm"), e);
      }
    });
  }
  std::vector<MessageId> ids(s.messages);
  for (std::uint64_t i = 0; i < s.messages; ++i) {
    ids[i] = edgeId(i);
  }
  std::vector<double> latencies;
  std::uint64_t batches = 0;
  const StoreMeter meter(dir.path(), env.flags());
  const auto start = Clock::now();
  for (std::uint64_t first = 0; first < s.messages; first += s.batch) {
    const auto batchStart = Clock::now();
    const std::uint64_t end = std::min<std::uint64_t>(first + s.batch, s.messages);
    env.write([&](MDB_txn* txn) {
      for (std::uint64_t i = first; i < end; ++i) writeOne(txn, ids[i], entityOf(i, s.entities));
    });
    ++batches;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - batchStart).count();
    latencies.insert(latencies.end(), end - first, ms);
  }
  const double seconds = secondsSince(start);
  return {static_cast<double>(s.messages) / seconds, percentile(latencies, 50),
          percentile(latencies, 99), meter.finish(s.messages, batches)};
}

std::string describe(const Figures& f, const char* unit, const char* latencyKind) {
  return thousands(f.perSecond) + " " + unit + "  " + latencyKind + " p50 " + fixed(f.p50Ms, 2) +
         " ms p99 " + fixed(f.p99Ms, 2) + " ms";
}

}  // namespace

Figures medianOf(const std::vector<Figures>& runs) {
  std::vector<double> a, b, c;
  std::vector<StoreCost> costs;
  for (const Figures& f : runs) {
    a.push_back(f.perSecond);
    b.push_back(f.p50Ms);
    c.push_back(f.p99Ms);
    if (f.cost) costs.push_back(*f.cost);
  }
  Figures m{median(a), median(b), median(c), std::nullopt};
  if (!runs.empty() && costs.size() == runs.size()) m.cost = medianOf(costs);
  return m;
}

std::vector<Row> runEndToEnd(const Settings& s, double& busMessagesPerSecond, bool busOnly) {
  if (busOnly) {
    busMessagesPerSecond = runOverBus(s, BusWorker::kEndpoint, 0).perSecond;
    return {};
  }
  const RecordSizes sizes = recordSizes();
  std::vector<Figures> memory, raw, log, bus, relay;
  std::vector<double> busCommits, relayCommits;
  for (unsigned run = 0; run < s.runs; ++run) {
    memory.push_back(runIdemOverMemory(s));
    raw.push_back(rawStore(s, sizes));
    log.push_back(rawAppendLog(s, sizes.snapshot));
    BusRun b = runOverBus(s, BusWorker::kEndpoint, 0);
    bus.push_back(
        {b.perSecond, percentile(b.latenciesMs, 50), percentile(b.latenciesMs, 99), std::nullopt});
    busCommits.push_back(b.commitsPerMessage);
    BusRun r = runOverBus(s, BusWorker::kRelay, 0);
    relay.push_back(
        {r.perSecond, percentile(r.latenciesMs, 50), percentile(r.latenciesMs, 99), std::nullopt});
    relayCommits.push_back(r.commitsPerMessage);
  }
  const Figures m = medianOf(memory), w = medianOf(raw), l = medianOf(log), b = medianOf(bus),
                r = medianOf(relay);
  busMessagesPerSecond = b.perSecond;
  const std::string shape = std::to_string(s.entities) + " entities, batch " +
                            std::to_string(s.batch) + (s.durable ? ", durable" : ", NOT durable");
  const std::string rawText = "raw LMDB " + describe(w, "rec/s", "batch") + " (" +
                              std::to_string(sizes.history) + "+" + std::to_string(sizes.snapshot) +
                              "+32 B/msg)";
  const std::string logText = "raw append log " + describe(l, "msg/s", "batch") + " (" +
                              std::to_string(kLogHeaderBytes) + " B header + envelope, head " +
                              std::to_string(16 + sizes.snapshot) + " B)";
  const std::string memoryText = describe(m, "msg/s", "batch");
  std::vector<Row> rows;
  rows.push_back({.key = "store-only-vs-append-log",
                  .name = "E2E store only (MemoryTransport) vs raw append log, " + shape,
                  .idem = m.perSecond,
                  .baseline = l.perSecond,
                  .unit = "msg/s",
                  .idemText = memoryText,
                  .baselineText = logText,
                  .target = ">= 0.6x and >= 100,000 msg/s",
                  .met = m.perSecond >= 0.6 * l.perSecond && m.perSecond >= 100'000,
                  .idemCost = m.cost,
                  .baselineCost = l.cost});
  rows.push_back({.key = "store-only-vs-raw-format1-layout",
                  .name = "E2E store only (MemoryTransport) vs raw LMDB, format-1 layout, " + shape,
                  .idem = m.perSecond,
                  .baseline = w.perSecond,
                  .unit = "msg/s",
                  .idemText = memoryText,
                  .baselineText = rawText,
                  .idemCost = m.cost,
                  .baselineCost = w.cost});
  rows.push_back({.key = "bus-vs-append-log",
                  .name = "E2E embedded bus (send -> output observed) vs raw append log, " + shape,
                  .idem = b.perSecond,
                  .baseline = l.perSecond,
                  .unit = "msg/s",
                  .idemText = describe(b, "msg/s", "e2e"),
                  .baselineText = logText,
                  .target = ">= 0.5x raw, >= 40,000/s",
                  .met = b.perSecond >= 0.5 * l.perSecond && b.perSecond >= 40'000});
  rows.push_back({.key = "bus-e2e-vs-relay",
                  .name = "E2E embedded bus (send -> output observed) vs bus-only relay (no "
                          "store; receive, publish+ack+next lease in one settle), " +
                          shape,
                  .idem = b.perSecond,
                  .baseline = r.perSecond,
                  .unit = "msg/s",
                  .idemText = describe(b, "msg/s", "e2e") + ", " + fixed(median(busCommits), 3) +
                              " commits/msg/hop",
                  .baselineText = "relay " + describe(r, "msg/s", "e2e") + ", " +
                                  fixed(median(relayCommits), 3) + " commits/msg/hop",
                  .target = ">= 0.75x",
                  .met = b.perSecond >= 0.75 * r.perSecond});
  return rows;
}

namespace {

struct LatencyTarget {
  double fraction;
  const char* key;
  double p99Ms;  // the target at that load
};
constexpr LatencyTarget kLatencyTargets[] = {
    {0.1, "latency-10pct", 5}, {0.5, "latency-50pct", 10}, {0.8, "latency-80pct", 25}};

std::string percentiles(const std::vector<double>& p50, const std::vector<double>& p99,
                        const std::vector<double>& p999) {
  return "p50 " + fixed(median(p50), 2) + " ms p99 " + fixed(median(p99), 2) + " ms p99.9 " +
         fixed(median(p999), 2) + " ms";
}

}  // namespace

std::vector<Row> runLatencyUnderLoad(const Settings& s, double maxMessagesPerSecond) {
  // The disk's synced-write p99 of this run: above 1 ms no latency target can be judged.
  const double fsyncP99 = fsyncP99Ms(ScratchDir("fsync-p99").path(), s.smoke ? 20 : 200);
  const bool diskTooSlow = s.durable && fsyncP99 > 1.0;
  std::vector<Row> rows;
  for (const LatencyTarget& target : kLatencyTargets) {
    const double rate = maxMessagesPerSecond * target.fraction;
    // About five seconds of paced traffic per run (at least 1,000 messages, at most --messages).
    Settings paced = s;
    paced.messages = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(rate * 5), 1'000,
                                               std::max<std::uint64_t>(s.messages, 1'000));
    if (s.smoke) paced.messages = s.messages;
    std::vector<double> p50, p99, p999, relayP50, relayP99, relayP999, achieved, relayAchieved,
        commits, relayCommits;
    for (unsigned run = 0; run < s.runs; ++run) {
      const BusRun b = runOverBus(paced, BusWorker::kEndpoint, rate);
      const BusRun r = runOverBus(paced, BusWorker::kRelay, rate);
      p50.push_back(percentile(b.latenciesMs, 50));
      p99.push_back(percentile(b.latenciesMs, 99));
      p999.push_back(percentile(b.latenciesMs, 99.9));
      relayP50.push_back(percentile(r.latenciesMs, 50));
      relayP99.push_back(percentile(r.latenciesMs, 99));
      relayP999.push_back(percentile(r.latenciesMs, 99.9));
      achieved.push_back(b.perSecond);
      relayAchieved.push_back(r.perSecond);
      commits.push_back(b.commitsPerMessage);
      relayCommits.push_back(r.commitsPerMessage);
    }
    const double idemP99 = median(p99);
    const std::string targetText = "p99 <= " + fixed(target.p99Ms, 0) + " ms (fsync p99 " +
                                   fixed(fsyncP99, 2) + " ms this run)";
    Row row{.key = target.key,
            .name = "Latency (embedded bus, from scheduled send) paced at " +
                    fixed(target.fraction * 100, 0) + "% of idem's max = " + thousands(rate) +
                    " msg/s",
            .idem = idemP99,
            .baseline = median(relayP99),
            .unit = "ms",
            .idemText = percentiles(p50, p99, p999) + " (" + thousands(median(achieved)) +
                        " msg/s, " + fixed(median(commits), 3) + " commits/msg/hop)",
            .baselineText = "relay " + percentiles(relayP50, relayP99, relayP999) + " (" +
                            thousands(median(relayAchieved)) + " msg/s, " +
                            fixed(median(relayCommits), 3) + " commits/msg/hop)",
            .target = targetText};
    if (diskTooSlow) {
      row.verdict = "disk too slow";
    } else {
      row.met = idemP99 <= target.p99Ms;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace idem::bench
