// Recovery: open a store holding N history entries (over the benchmark's entities) and process
// the next message, with the store's file evicted from the page cache first. Against raw LMDB
// opening the same file and committing one record.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "bench/bench_endpoint.h"
#include "bench/benchmarks.h"
#include "bench/raw_lmdb.h"
#include "idem/canonical.h"
#include "idem/endpoint.h"
#include "store/version_store.h"

namespace idem::bench {

namespace {

// Writes `history` versions spread over `entities` straight through VersionStore::append (the
// same records the pipeline writes: the real input envelope, a snapshot per version, the applied
// entry), not durably, in big transactions. Fast enough to build 1M entries in seconds.
void buildStore(const std::filesystem::path& dir, std::uint64_t history, std::uint64_t entities) {
  store::StoreOptions options;
  options.durable = false;
  options.initialMapBytes = std::size_t{1} << 30;
  store::VersionStore versions(dir, kEndpointName, options);
  std::vector<std::uint64_t> number(entities + 1, 0), head(entities + 1, 0);
  // Recorded now: inside retention's history horizon, so the endpoint's first batch runs its
  // retention step (part of what recovery costs) without pruning what the raw baseline reads.
  const std::int64_t recordedAtNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
  constexpr std::uint64_t kChunk = 20'000;
  for (std::uint64_t first = 0; first < history; first += kChunk) {
    const std::vector<std::uint64_t> numberBefore = number, headBefore = head;
    versions.write([&](store::Txn& txn) {
      number = numberBefore;  // the body runs again from the start after the map grew
      head = headBefore;
      for (std::uint64_t i = first; i < std::min(first + kChunk, history); ++i) {
        const std::uint64_t e = i < entities ? i + 1 : entityOf(i, entities);
        if (number[e] == 0) number[e] = versions.createEntity(txn, "counter", entityKey(e));
        const Bytes envelope = incrementEnvelope(i, e, "recovery");
        capnp::MallocMessageBuilder state;
        state.initRoot<Counter>().setValue(head[e] + 1);
        const Words canonical = canonicalOf(state.getRoot<Counter>().asReader());
        store::HistoryEntry entry;
        entry.handlerId = "increment";
        entry.handlerVersion = 1;
        entry.recordedAtNs = recordedAtNs;
        entry.outputCount = 1;
        entry.stateChanged = true;
        entry.input = envelope;
        versions.append(txn, number[e], ++head[e], edgeId(i, "recovery"), entry,
                        asBytes(canonical.asPtr()));
      }
    });
  }
}

// Flushes `file` and asks the kernel to drop it from the page cache (a cold open).
void evict(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

struct RecoveryFigures {
  double idemMs = 0;
  double rawMs = 0;
};

RecoveryFigures measure(const Settings& s, std::uint64_t history) {
  ScratchDir dir("recovery");
  const std::filesystem::path storeDir = dir.path() / "store";
  buildStore(storeDir, history, s.entities);
  RecoveryFigures figures;

  evict(storeDir / "data.mdb");
  {
    MemoryTransport transport;
    transport.inject(incrementEnvelope(history, 1, "recovery"));
    EndpointOptions options;
    options.storeDirectory = storeDir;
    options.durable = s.durable;
    options.batchWait = std::chrono::milliseconds{0};
    const auto start = Clock::now();
    Endpoint endpoint(counterHandlers(), transport, options);
    if (endpoint.processBatch() != 1 || transport.published() != 1) {
      throw std::runtime_error("recovery: the next message was not processed");
    }
    figures.idemMs = secondsSince(start) * 1e3;
  }

  evict(storeDir / "data.mdb");
  {
    const auto start = Clock::now();
    RawLmdb env(storeDir, s.durable);
    // The first log record (format 2: seq 1, an 8-byte big-endian key), then one record more.
    const MDB_dbi logDb = env.db("log");
    env.write([&](MDB_txn* txn) {
      const auto first = key16(0, 1);
      const std::span<const std::byte> seq1(first.data() + 8, 8);
      if (!get(txn, logDb, seq1)) throw std::runtime_error("recovery: no log record 1");
      const std::array<std::byte, 8> value{};
      const auto after = key16(0, history + 1);
      put(txn, logDb, std::span<const std::byte>(after.data() + 8, 8), value);
    });
    figures.rawMs = secondsSince(start) * 1e3;
  }
  return figures;
}

}  // namespace

std::vector<Row> runRecovery(const Settings& s, std::uint64_t largeHistory) {
  const std::uint64_t smallHistory = largeHistory / 10;
  std::vector<double> smallIdem, smallRaw, largeIdem, largeRaw;
  for (unsigned run = 0; run < s.runs; ++run) {
    const RecoveryFigures small = measure(s, smallHistory);
    const RecoveryFigures large = measure(s, largeHistory);
    smallIdem.push_back(small.idemMs);
    smallRaw.push_back(small.rawMs);
    largeIdem.push_back(large.idemMs);
    largeRaw.push_back(large.rawMs);
  }
  const double si = median(smallIdem), sr = median(smallRaw), li = median(largeIdem),
               lr = median(largeRaw);
  auto label = [](std::uint64_t n) { return thousands(static_cast<double>(n)); };
  const std::string rawText = "raw LMDB open + 1 commit ";
  return {
      {.key = "recovery-small",
       .name = "Recovery: open + next message, " + label(smallHistory) +
               " history entries (cold cache)",
       .idem = si,
       .baseline = sr,
       .unit = "ms",
       .idemText = fixed(si, 1) + " ms",
       .baselineText = rawText + fixed(sr, 1) + " ms",
       .target = "<= 1 s",
       .met = si <= 1000},
      {.key = "recovery",
       .name = "Recovery: open + next message, " + label(largeHistory) +
               " history entries (cold cache)",
       .idem = li,
       .baseline = lr,
       .unit = "ms",
       .idemText = fixed(li, 1) + " ms",
       .baselineText = rawText + fixed(lr, 1) + " ms",
       .target = "<= 1 s",
       .met = li <= 1000},
      {.key = "recovery-growth",
       .name =
           "Recovery: growth " + label(largeHistory) + " vs " + label(smallHistory) + " entries",
       .idem = li,
       .baseline = si,
       .unit = "ms",
       .idemText = fixed(li, 1) + " ms vs " + fixed(si, 1) + " ms",
       .baselineText = "raw " + fixed(lr, 1) + " vs " + fixed(sr, 1) + " ms",
       .target = "not growing (<= 2x)",
       .met = li <= 2 * si},
  };
}

}  // namespace idem::bench
