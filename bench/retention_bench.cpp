// Retention: the counter endpoint over MemoryTransport with horizons of zero (everything whose
// outputs were confirmed may be pruned at once), measured after `small` and after `large`
// messages over the same entities in the same store. A store without retention grows with every
// message; with it, the size should depend on the entities, not on the messages.
#include <optional>
#include <stop_token>

#include "bench/bench_endpoint.h"
#include "bench/benchmarks.h"
#include "bench/raw_lmdb.h"
#include "idem/endpoint.h"

namespace idem::bench {

namespace {

struct StoreSize {
  std::uint64_t usedBytes = 0;  // bytes in the B-tree pages of every database (pages in use)
  std::uint64_t fileBytes = 0;  // data.mdb
};

std::string megabytes(std::uint64_t bytes) { return fixed(static_cast<double>(bytes) / 1e6, 1); }

}  // namespace

std::vector<Row> runRetention(const Settings& s, std::uint64_t small, std::uint64_t large) {
  ScratchDir dir("retention");
  MemoryTransport transport;
  EndpointOptions options;
  options.storeDirectory = dir.path() / "store";
  options.batchSize = s.batch;
  options.durable = false;  // sizes do not depend on fsync; 10M durable commits would take long
  options.batchWait = std::chrono::milliseconds{0};
  options.retention.historyHorizon = std::chrono::nanoseconds{0};
  options.retention.appliedHorizon = std::chrono::nanoseconds{0};

  std::uint64_t sent = 0;
  // Sends up to `total` messages in slices (the queue stays small), then stops the endpoint
  // gracefully (run() with a stop requested records the last confirmations) and closes it.
  auto runTo = [&](std::uint64_t total) {
    Endpoint endpoint(counterHandlers(), transport, options);
    constexpr std::uint64_t kSlice = 8192;
    while (sent < total) {
      for (std::uint64_t end = std::min(total, sent + kSlice); sent < end; ++sent) {
        transport.inject(incrementEnvelope(sent, entityOf(sent, s.entities), "retention"));
      }
      while (transport.pending() > 0) endpoint.processBatch();
    }
    std::stop_source stop;
    stop.request_stop();
    endpoint.run(stop.get_token());
    if (transport.failures() > 0) throw std::runtime_error("retention: inputs failed");
  };
  auto measure = [&] {
    StoreSize size;
    size.usedBytes = RawLmdb(options.storeDirectory, false).pageBytes().at("total");
    size.fileBytes = std::filesystem::file_size(options.storeDirectory / "data.mdb");
    return size;
  };

  const auto start = Clock::now();
  runTo(small);
  const StoreSize atSmall = measure();
  runTo(large);
  const StoreSize atLarge = measure();
  const double seconds = secondsSince(start);

  const double fileRatio =
      static_cast<double>(atLarge.fileBytes) / static_cast<double>(atSmall.fileBytes);
  Row row;
  row.key = "retention-growth";
  row.name = "Retention: store size (used) after " + thousands(static_cast<double>(large)) +
             " vs " + thousands(static_cast<double>(small)) + " messages, " +
             std::to_string(s.entities) + " entities, horizons 0, not durable";
  row.idem = static_cast<double>(atLarge.usedBytes);
  row.baseline = static_cast<double>(atSmall.usedBytes);
  row.unit = "B";
  row.idemText = thousands(static_cast<double>(large)) + ": used " + megabytes(atLarge.usedBytes) +
                 " MB, file " + megabytes(atLarge.fileBytes) + " MB (file " + fixed(fileRatio, 2) +
                 "x; " + thousands(static_cast<double>(large) / seconds) + " msg/s overall)";
  row.baselineText = thousands(static_cast<double>(small)) + ": used " +
                     megabytes(atSmall.usedBytes) + " MB, file " + megabytes(atSmall.fileBytes) +
                     " MB";
  row.target = "<= 2x (used and file)";
  row.met = atLarge.usedBytes <= 2 * atSmall.usedBytes && fileRatio <= 2;
  return {row};
}

}  // namespace idem::bench
