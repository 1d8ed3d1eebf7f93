// Outbox comparison: idem store-only against the classic and the tuned outbox (bench/outbox.h)
// in the same run: throughput, and live bytes stored per message at the default retention
// horizons and at horizons 0.
#include "bench/bench_endpoint.h"
#include "bench/benchmarks.h"
#include "bench/outbox.h"

namespace idem::bench {

namespace {

// The per-message budget of issue 10 within the horizon: the input envelope (mean over the
// run's messages) + the state + 48 B.
double bytesBudget(const Settings& s) {
  const std::uint64_t sample = std::min<std::uint64_t>(s.messages, 1000);
  double envelope = 0;
  for (std::uint64_t i = 0; i < sample; ++i) {
    envelope += static_cast<double>(incrementEnvelope(i, entityOf(i, s.entities)).size());
  }
  return envelope / static_cast<double>(std::max<std::uint64_t>(sample, 1)) +
         static_cast<double>(counterStateBytes()) + 48;
}

double perMessage(const std::map<std::string, std::uint64_t>& bytes, const Settings& s) {
  return static_cast<double>(bytes.at("total")) / static_cast<double>(s.messages + s.entities);
}

std::string breakdown(const std::map<std::string, std::uint64_t>& bytes, const Settings& s) {
  std::string out;
  for (const auto& [name, b] : bytes) {
    if (name == "total" || b == 0) continue;
    out += (out.empty() ? "" : " ") + name + " " +
           fixed(static_cast<double>(b) / static_cast<double>(s.messages + s.entities), 0);
  }
  return out;
}

}  // namespace

std::vector<Row> runOutbox(const Settings& s) {
  std::vector<Figures> idemRuns, classicRuns, tunedRuns;
  std::map<std::string, std::uint64_t> idemBytes, tunedBytes;
  for (unsigned run = 0; run < s.runs; ++run) {
    idemRuns.push_back(runIdemOverMemory(s, &idemBytes));
    classicRuns.push_back(runOutboxOnce(s, OutboxKind::kClassic).figures);
    OutboxRun tuned = runOutboxOnce(s, OutboxKind::kTuned);
    tunedRuns.push_back(tuned.figures);
    tunedBytes = std::move(tuned.liveBytes);
  }
  // Sizes do not vary between runs: one run each at horizons 0.
  std::map<std::string, std::uint64_t> idemBytes0;
  runIdemOverMemory(s, &idemBytes0, /*horizonsZero=*/true);
  const OutboxRun tuned0 = runOutboxOnce(s, OutboxKind::kTuned, /*horizonsZero=*/true);

  const Figures i = medianOf(idemRuns), c = medianOf(classicRuns), t = medianOf(tunedRuns);
  const std::string idemText = thousands(i.perSecond) + " msg/s";
  const double ib = perMessage(idemBytes, s), tb = perMessage(tunedBytes, s);
  const double ib0 = perMessage(idemBytes0, s), tb0 = perMessage(tuned0.liveBytes, s);
  const double budget = bytesBudget(s);
  std::vector<Row> rows;
  rows.push_back(
      {.key = "store-only-vs-outbox-tuned",
       .name = "Outbox comparison: throughput vs tuned outbox (store only, same batches)",
       .idem = i.perSecond,
       .baseline = t.perSecond,
       .unit = "msg/s",
       .idemText = idemText,
       .baselineText = "tuned outbox " + thousands(t.perSecond) + " msg/s",
       .target = ">= 1.3x",
       .met = i.perSecond >= 1.3 * t.perSecond,
       .idemCost = i.cost,
       .baselineCost = t.cost});
  rows.push_back(
      {.key = "store-only-vs-outbox-classic",
       .name = "Outbox comparison: throughput vs classic outbox (store only, same batches)",
       .idem = i.perSecond,
       .baseline = c.perSecond,
       .unit = "msg/s",
       .idemText = idemText,
       .baselineText = "classic outbox " + thousands(c.perSecond) + " msg/s",
       .target = ">= 2x",
       .met = i.perSecond >= 2 * c.perSecond,
       .idemCost = i.cost,
       .baselineCost = c.cost});
  rows.push_back({.key = "bytes-per-message",
                  .name = "Live bytes stored per message (pages / messages), default horizons",
                  .idem = ib,
                  .baseline = budget,
                  .unit = "B/msg",
                  .idemText = fixed(ib, 0) + " B (" + breakdown(idemBytes, s) + ")",
                  .baselineText = "envelope + state + 48 B = " + fixed(budget, 0) +
                                  " B (tuned outbox " + fixed(tb, 0) +
                                  " B: " + breakdown(tunedBytes, s) + ")",
                  .target = "<= 1x",
                  .met = ib <= budget});
  rows.push_back({.key = "bytes-per-message-horizon0",
                  .name = "Live bytes stored per message (pages / messages), retention horizons 0",
                  .idem = ib0,
                  .baseline = tb0,
                  .unit = "B/msg",
                  .idemText = fixed(ib0, 0) + " B (" + breakdown(idemBytes0, s) + ")",
                  .baselineText = "tuned outbox " + fixed(tb0, 0) + " B (" +
                                  breakdown(tuned0.liveBytes, s) + ")",
                  .target = "<= 1x",
                  .met = ib0 <= tb0});
  return rows;
}

}  // namespace idem::bench
