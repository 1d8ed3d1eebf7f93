// Duplicates: the cost per message of a duplicate whose version is 1, 100 and 10,000 versions
// behind its entity's head, against first processing, both in batches of kBatch on one entity.
#include <optional>

#include "bench/bench_endpoint.h"
#include "bench/benchmarks.h"
#include "idem/endpoint.h"

namespace idem::bench {

namespace {

constexpr std::uint64_t kEntity = 1;
constexpr const char* kSalt = "deep";
constexpr std::size_t kBatch = 64;

struct DuplicateFigures {
  double newUs = 0;                 // first processing, per message
  std::vector<double> duplicateUs;  // per depth
};

// All messages go to kEntity; the message with seq k produced version k + 1.
DuplicateFigures measure(const Settings& s, unsigned snapshotEvery, bool replay,
                         const std::vector<std::uint64_t>& depths) {
  ScratchDir dir("duplicates");
  MemoryTransport transport;
  EndpointOptions options;
  options.storeDirectory = dir.path() / "store";
  options.snapshotEvery = snapshotEvery;
  options.replayPublishedDuplicates = replay;
  options.batchWait = std::chrono::milliseconds{0};
  const std::uint64_t deepest = *std::max_element(depths.begin(), depths.end());
  std::uint64_t head = 0;
  {  // The history, written fast (not durable) in big batches.
    options.durable = false;
    options.batchSize = 1000;
    Endpoint builder(counterHandlers(), transport, options);
    for (; head < deepest + 1 + kBatch; ++head) {
      transport.inject(incrementEnvelope(head, kEntity, kSalt));
    }
    while (transport.pending() > 0) builder.processBatch();
  }
  options.durable = s.durable;
  options.batchSize = kBatch;
  Endpoint endpoint(counterHandlers(), transport, options);
  auto timedBatch = [&](const std::function<Bytes(std::size_t)>& envelope) {
    for (std::size_t i = 0; i < kBatch; ++i) transport.inject(envelope(i));
    const auto start = Clock::now();
    if (endpoint.processBatch() != kBatch) throw std::runtime_error("duplicates: short batch");
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kBatch;
  };
  std::vector<double> fresh;
  std::vector<std::vector<double>> duplicates(depths.size());
  const unsigned reps = s.smoke ? 1 : 15;
  for (unsigned rep = 0; rep < reps; ++rep) {
    fresh.push_back(
        timedBatch([&](std::size_t) { return incrementEnvelope(head++, kEntity, kSalt); }));
    // Untimed: commits the removal of the new batch's inputs from the publication set.
    transport.inject(incrementEnvelope(head - 2, kEntity, kSalt));
    endpoint.processBatch();
    for (std::size_t d = 0; d < depths.size(); ++d) {
      // The input that produced version head - depth.
      const std::uint64_t seq = head - depths[d] - 1;
      duplicates[d].push_back(
          timedBatch([&](std::size_t) { return incrementEnvelope(seq, kEntity, kSalt); }));
    }
  }
  if (transport.failures() > 0) throw std::runtime_error("duplicates: inputs failed");
  DuplicateFigures figures;
  figures.newUs = median(fresh);
  for (const auto& samples : duplicates) figures.duplicateUs.push_back(median(samples));
  return figures;
}

}  // namespace

std::vector<Row> runDuplicates(const Settings& s) {
  const std::vector<std::uint64_t> depths =
      s.smoke ? std::vector<std::uint64_t>{1, 10, 100} : std::vector<std::uint64_t>{1, 100, 10'000};
  std::vector<Row> rows;
  auto add = [&](const std::string& key, const std::string& what, unsigned snapshotEvery,
                 bool replay, const std::string& target, double limit) {
    const DuplicateFigures f = measure(s, snapshotEvery, replay, depths);
    for (std::size_t d = 0; d < depths.size(); ++d) {
      const double dup = f.duplicateUs[d];
      rows.push_back(
          {.key = key + "-depth" + std::to_string(depths[d]),
           .name = what + ", " + thousands(static_cast<double>(depths[d])) + " behind head",
           .idem = dup,
           .baseline = f.newUs,
           .unit = "us/msg",
           .idemText = fixed(dup, 1) + " us/dup",
           .baselineText = "first processing " + fixed(f.newUs, 1) + " us/msg",
           .target = target,
           .met = dup <= limit * f.newUs});
    }
  };
  add("duplicates-replayed-snapshot1", "Duplicate replayed, snapshot every 1", 1, true,
      "<= 2x, flat", 2);
  add("duplicates-replayed-snapshot64", "Duplicate replayed, snapshot every 64", 64, true,
      "bounded (<= 2x)", 2);
  add("duplicates-default", "Duplicate, default (published: acked without replay)", 1, false,
      "<= 2x", 2);
  return rows;
}

}  // namespace idem::bench
