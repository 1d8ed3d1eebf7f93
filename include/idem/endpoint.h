// Endpoint: one service's pipeline. Receives a batch, runs each input's handler against the
// right version of its entity, commits the batch durably in one transaction, publishes the
// outputs, waits for the transport's confirmation and only then acks the inputs.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <string>

#include "idem/handlers.h"
#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem {

namespace store {
class VersionStore;
}

// A version one batch committed: its log record's sequence number in the endpoint's store, and
// the input that produced it.
struct CommittedRecord {
  std::uint64_t seq = 0;
  MessageId input;
};

// Called after a batch's commit and before any of its outputs is published, with the log records
// the batch committed (ascending seq; the call is made with an empty span too). Whatever it
// throws fails the batch as a publish failure would: nothing of it is published or acked (the
// NATS changelog appends the records here: docs/nats.md, "Ownership and fencing").
using CommitSink =
    std::function<void(const store::VersionStore& store, std::span<const CommittedRecord>)>;

// What happens to an input whose handler throws.
struct RetryPolicy {
  unsigned immediateRetries = 2;  // re-runs within the same batch
  unsigned delayedRetries = 3;    // redeliveries after firstDelay, 2x firstDelay, 4x, ...
  std::chrono::milliseconds firstDelay{1000};
};

// The named steps of the pipeline, in order. A fault hook sees each.
// Over a transport that publishes and acks in one atomic step (Transport::settlesAtomically(),
// the embedded bus) there is no moment with outputs published and inputs unacked: kBeforeAck
// fires before that step (nothing published, nothing acked) and kAfterPublish after it (outputs
// published and inputs acked, the confirmations not yet recorded in the store, so the versions
// are still owed and re-emitted by the owed sweep), in that order.
enum class FaultPoint {
  kInHandler,     // before each handler run
  kBeforeCommit,  // the batch's writes are made, not committed
  kAfterCommit,   // the batch is durable, nothing published
  kAfterPublish,  // every output confirmed, no input acked (atomic settle: see above)
  kBeforeAck,     // about to ack (after dead-lettering and retries were handed over; atomic
                  // settle: see above)
};
const char* toString(FaultPoint point) noexcept;

// How long an endpoint keeps what it recorded (docs/storage-format.md "Retention"; what it means
// for late duplicates: docs/guarantees.md). Pruning runs inside the endpoint's own batch
// transactions, a bounded number of records per batch; there is no cleanup job.
struct RetentionPolicy {
  bool enabled = true;  // false: keep every version, snapshot and applied entry forever
  // A version's history entry and the snapshots below it may go once it was recorded longer ago
  // than this and its outputs were confirmed published; the entity's head always stays.
  std::chrono::nanoseconds historyHorizon = std::chrono::hours(24 * 7);
  // An applied-index entry may go once it was recorded longer ago than this and its version's
  // history is gone. A duplicate arriving later is not recognised (processed as new).
  std::chrono::nanoseconds appliedHorizon = std::chrono::hours(24 * 30);
  // Records each sweep (history, applied index) examines per batch.
  std::size_t recordsPerBatch = 512;
};

struct EndpointOptions {
  std::filesystem::path storeDirectory;  // the endpoint's LMDB environment (created if absent)
  // The most inputs per transaction (group commit). Batches are adaptive: a batch takes what is
  // queued, up to this cap, without waiting while anything is queued.
  std::size_t batchSize = 256;
  // How long receive() waits when nothing is queued, before the endpoint takes an idle step.
  std::chrono::milliseconds batchWait{5};
  // An endpoint idle this long records the confirmations of its last batches in a commit of its
  // own (a busy endpoint records them in its next batch's commit; shutdown always does).
  std::chrono::milliseconds recordConfirmedAfter{100};
  unsigned snapshotEvery = 1;  // snapshot every K-th version; others are re-folded on load
  std::size_t maxMessageBytes = std::size_t{1} << 20;  // larger envelopes go to the error queue
  RetryPolicy retry;
  // Runs each first-time input twice and compares bytes, so that a non-deterministic handler is
  // caught at its first run (costs a second run per input).
  bool verifyDeterminism = false;
  // Re-runs every duplicate, even one whose outputs the transport already confirmed (which is
  // otherwise acked at once, see docs/guarantees.md). For determinism checks; costs a replay.
  bool replayPublishedDuplicates = false;
  RetentionPolicy retention;
  // A version whose outputs have been owed (committed, confirmation not recorded) for longer
  // than this is re-emitted by the endpoint itself, in its idle steps: its confirmation was lost
  // when a process died between publishing and recording it, and no copy of its input may ever
  // come back (docs/guarantees.md). Younger ones are left to the process publishing them. A
  // sweep over the publication set starts at most once per this interval.
  std::chrono::milliseconds reemitOwedAfter{60'000};
  std::size_t initialMapBytes = std::size_t{64} << 20;
  bool durable = true;               // false: commits are not fsynced (benchmarks and tests only)
  std::function<TimePoint()> clock;  // default: the system clock; recorded once per input
  // Test seam: called at each FaultPoint; may throw to simulate a crash or kill the process.
  std::function<void(FaultPoint)> faultHook;
  // After each commit, before the batch's outputs are published (see CommitSink). Empty: none.
  CommitSink afterCommit;
};

// Durations counted in fixed buckets, for a Prometheus histogram: counts[i] holds those above
// kBounds[i-1] and at most kBounds[i]; the last count those above every bound.
struct LatencyHistogram {
  static constexpr std::array<std::chrono::microseconds, 16> kBounds{
      std::chrono::microseconds{100},
      std::chrono::microseconds{250},
      std::chrono::microseconds{500},
      std::chrono::microseconds{1'000},
      std::chrono::microseconds{2'500},
      std::chrono::microseconds{5'000},
      std::chrono::microseconds{10'000},
      std::chrono::microseconds{25'000},
      std::chrono::microseconds{50'000},
      std::chrono::microseconds{100'000},
      std::chrono::microseconds{250'000},
      std::chrono::microseconds{500'000},
      std::chrono::seconds{1},
      std::chrono::microseconds{2'500'000},
      std::chrono::seconds{5},
      std::chrono::seconds{10}};
  std::array<std::uint64_t, kBounds.size() + 1> counts{};
  std::chrono::nanoseconds sum{0};

  void record(std::chrono::nanoseconds duration) noexcept {
    std::size_t i = 0;
    while (i < kBounds.size() && duration > kBounds[i]) ++i;
    ++counts[i];
    sum += duration;
  }
};

struct EndpointStats {
  std::uint64_t batches = 0;
  std::uint64_t processed = 0;         // first-time inputs committed
  std::uint64_t duplicates = 0;        // copies of applied inputs, re-run and re-emitted
  std::uint64_t alreadyPublished = 0;  // copies of applied inputs acked without a re-run
  std::uint64_t published = 0;         // messages handed to the transport (re-emissions included)
  std::uint64_t retried = 0;           // deliveries handed back for a delayed retry
  std::uint64_t deadLettered = 0;      // deliveries moved to the error queue
  // Copies of applied inputs whose version's history was pruned (so their outputs were
  // published): acked without a re-run, even with replayPublishedDuplicates. Not counted in
  // alreadyPublished.
  std::uint64_t prunedDuplicates = 0;
  std::uint64_t prunedVersions = 0;  // history entries removed by retention
  std::uint64_t prunedApplied = 0;   // applied-index entries removed by retention
  // Versions whose outputs this endpoint re-emitted on its own after opening its store: their
  // confirmation had been lost (Pipeline::reemitOwed, docs/guarantees.md).
  std::uint64_t reemittedOwed = 0;
  // What the endpoint's store writes cost, as its LMDB environment counted them since the
  // endpoint opened it (docs/benchmarks.md "Store costs"): write transactions committed that
  // changed something, flushes to stable storage they waited for (2 per commit when durable, 0
  // when not), and pages (of the environment's page size) handed to the kernel.
  std::uint64_t storeCommits = 0;
  std::uint64_t storeSyncs = 0;
  std::uint64_t storePagesWritten = 0;
  // Inputs sent to the error queue because their handler gave other bytes on a second run
  // (verifyDeterminism, or a duplicate's re-run). Counted when the batch hands the input to the
  // error queue, after its commit, like deadLettered (of which it is a part).
  std::uint64_t nonDeterminism = 0;
  LatencyHistogram batchLatency;   // processBatch() of a batch that had inputs, receive excluded
  LatencyHistogram commitLatency;  // its write transaction: handlers and the durable commit
};

class Endpoint {
 public:
  // `transport` must outlive the endpoint. Opens (or creates) the store and subscribes the
  // endpoint to every message type it handles. Throws idem::Error when the store is unusable.
  Endpoint(Handlers handlers, Transport& transport, EndpointOptions options);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  const std::string& name() const;

  // Takes one batch through the whole pipeline: the one the transport leased while settling the
  // previous batch, if any; else one received now (what is queued, up to batchSize, waiting up
  // to batchWait only when nothing is). When none came, takes one idle step instead: re-emits a
  // bounded number of the versions a dead process left owed (their confirmation lost), and, once
  // idle for recordConfirmedAfter, records the confirmations of earlier batches. Returns the
  // number of deliveries handled. Throws idem::Error when the batch could not
  // be committed or published; then nothing of it is acked and its inputs will come back.
  std::size_t processBatch();

  // Calls processBatch() until `stop` is requested; the batch in flight completes, and so does a
  // batch already leased for it (drain); then the confirmations are recorded.
  // Transient and overloaded errors back off and continue; bugs propagate.
  void run(std::stop_token stop);

  // The counters as of the last completed batch. Thread-safe.
  EndpointStats stats() const;

 private:
  void processLeasedNext();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem
