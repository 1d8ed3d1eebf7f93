// The benchmarks idem-bench runs. Each measures idem and its baseline in the same run, repeats
// `runs` times and returns table rows of the medians.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "bench/report.h"

namespace idem::bench {

struct Settings {
  std::uint64_t messages = 100'000;  // timed messages per run
  std::uint64_t entities = 10'000;
  std::size_t batch = 256;  // inputs per transaction (idem and baselines alike)
  bool durable = true;
  unsigned runs = 3;
  bool smoke = false;  // tiny counts, one run: checks that every benchmark still works
};

// Throughput figures of one run: messages/s, per-message latency percentiles and, for the
// store-only runs, what the store's commits cost over the timed part (StoreMeter).
struct Figures {
  double perSecond = 0;
  double p50Ms = 0;
  double p99Ms = 0;
  std::optional<StoreCost> cost;
};
// Medians of each figure; the cost's when every run has one.
Figures medianOf(const std::vector<Figures>& runs);

// One run of the counter endpoint over MemoryTransport (store only): settings.entities warm-up
// messages, then settings.messages timed ones, batch by batch. When `liveBytes` is given, it
// receives the bytes in the store's pages per named database (and "total") after the run.
// horizonsZero: retention with both horizons 0 (whatever was confirmed published may go at
// once) instead of the defaults.
Figures runIdemOverMemory(const Settings& settings,
                          std::map<std::string, std::uint64_t>* liveBytes = nullptr,
                          bool horizonsZero = false);

// End to end, trivial handler: the pipeline over MemoryTransport (store only) and over the
// embedded bus (store + bus), against the raw append log (bench/raw_append_log.h), against raw
// LMDB writing the records of store format 1 in the same batches, and against a bus-only relay.
// Also returns the median bus throughput (messages/s). busOnly: one idem run over the bus and
// nothing else (for profilers).
std::vector<Row> runEndToEnd(const Settings& settings, double& busMessagesPerSecond,
                             bool busOnly = false);

// Latency (p50, p99, p99.9 from each message's scheduled send time) with a paced sender at 10%,
// 50% and 80% of `maxMessagesPerSecond` over the bus, idem beside the relay at the same rates:
// rows latency-10pct, latency-50pct, latency-80pct. Their verdict is "disk too slow" when this
// run's fsync p99 is above 1 ms.
std::vector<Row> runLatencyUnderLoad(const Settings& settings, double maxMessagesPerSecond);

// idem against two outbox strategies on LMDB, classic and tuned (bench/outbox.h): throughput,
// and live bytes stored per message at the default retention horizons and at horizons 0.
std::vector<Row> runOutbox(const Settings& settings);

// Duplicates 1, 100, 10,000 versions behind the head against first processing.
std::vector<Row> runDuplicates(const Settings& settings);

// Open a store with 100k / 1M history entries and process the next message.
std::vector<Row> runRecovery(const Settings& settings, std::uint64_t largeHistory = 1'000'000);

// The counter endpoint over NATS JetStream against a raw nats.c relay, each run on a fresh
// nats-server started on a free loopback port (nats-server must be installed: `make setup`).
std::vector<Row> runNats(const Settings& settings);

// Store size (pages in use and file) after `small` and after `large` messages over
// settings.entities entities in one store, retention on with horizons of zero, not durable.
std::vector<Row> runRetention(const Settings& settings, std::uint64_t small = 1'000'000,
                              std::uint64_t large = 10'000'000);

}  // namespace idem::bench
