// Pipeline: one batch through the state-based algorithm (DESIGN.md §2):
//   1. decode each delivery (malformed → error queue),
//   2. in one write transaction: new input → run on the head state, append a version;
//      duplicate → re-run on the state before its recorded version, compare the output digest,
//   3. commit durably, 4. publish every output and wait for confirmation, 5. ack.
#pragma once

#include <optional>
#include <vector>

#include "framework/decoded_input.h"
#include "framework/handler_run.h"
#include "framework/state_loader.h"
#include "idem/endpoint.h"
#include "store/version_store.h"

namespace idem::detail {

class Pipeline {
 public:
  // Everything passed in must outlive the pipeline.
  Pipeline(const Handlers& handlers, Transport& transport, store::VersionStore& store,
           const EndpointOptions& options, EndpointStats& stats);

  // Takes `deliveries` through every step. Throws idem::Error when the batch cannot be committed
  // or its outputs not confirmed; nothing of the batch is acked then. Fault-hook exceptions
  // propagate untouched.
  void process(std::vector<Delivery>& deliveries);

  // Records, in a write transaction of its own, that the outputs confirmed since the last batch
  // are published. Batches do this in their own transaction; call it when idle and on shutdown.
  void flushPublished();

  // One bounded step (at most `budget` versions) of the sweep that re-emits the outputs of
  // versions owed for longer than EndpointOptions::reemitOwedAfter: their confirmation was lost
  // (a process died between publishing and recording it), and no copy of their input may ever
  // come back to re-emit them, which would keep them owed and unprunable for ever. A sweep
  // starts at most once per reemitOwedAfter. Each version is replayed as a duplicate would be
  // (its recorded handler on the state before it), published, and marked published by the next
  // write. Versions that cannot be replayed or that the transport refuses are logged and left
  // owed. Returns whether a sweep is under way (call again). Throws idem::Error (transient) when
  // publishing failed; the step is then retried.
  bool reemitOwed(std::size_t budget);

  // Test-only (tests/explore hashes a consumer's state): what the pipeline keeps across batches.
  const std::vector<std::uint64_t>& confirmedForTest() const { return confirmed_; }
  std::uint64_t owedCursorForTest() const { return owedCursor_; }
  bool owedSweepingForTest() const { return owedSweeping_; }

 private:
  enum class Outcome { kNew, kDuplicate, kAlreadyPublished, kPruned, kRetry, kDeadLetter };
  struct Item {
    Delivery* delivery = nullptr;
    std::optional<DecodedInput> input;
    Outcome outcome = Outcome::kNew;
    Emitted emitted;
    ErrorReport report;
    std::uint64_t version = 0;  // the version of its entity the item committed or replays
    std::uint64_t seq = 0;      // that version's log record
  };

  void decode(Item& item) const;
  // Dead-letters the item on a permanent error; other errors abort the batch.
  void handle(store::Txn& txn, Item& item);
  void handleInput(store::Txn& txn, Item& item);
  void handleNew(store::Txn& txn, Item& item);
  void handleDuplicate(store::Txn& txn, Item& item, const store::Applied& applied);
  // Runs the handler with immediate retries (with `verify`, twice per attempt, comparing bytes);
  // on failure or non-determinism sets the item's outcome and returns nullopt. Whatever the
  // handler throws is a failed attempt.
  std::optional<RunResult> runWithRetries(Item& item, const RunInput& input,
                                          kj::ArrayPtr<const capnp::word> state, bool verify);
  // A failed attempt: a delayed retry, or the error queue when `permanent` or out of retries.
  void failAttempt(Item& item, std::string reason, const std::string& where, bool permanent);
  // Dead-letters the item when an output is one the transport could never accept or is larger
  // than maxMessageBytes; returns whether it did.
  bool refuseUnpublishable(Item& item, const std::string& handler, const Emitted& emitted);
  void deadLetter(Item& item, std::string reason, std::string detail) const;
  // Retention's bounded step for this batch (a no-op when retention is off, and in the first
  // batch of this pipeline).
  store::PruneCounts prune(store::Txn& txn) const;
  void publishAndAck(std::vector<Item>& items);
  // Publishes the batch's outputs. When the transport refuses some permanently (they passed
  // checkOutbound() before their commit, but its limits changed), publishes item by item and
  // dead-letters the inputs whose outputs are refused: their versions stay owed.
  void publishOutputs(std::vector<Item>& items);
  void fault(FaultPoint point) const;
  // Removes confirmed_ from the publication set (one range per run of consecutive seqs).
  void recordConfirmed(store::Txn& txn);
  std::int64_t nowNs() const;

  const Handlers& handlers_;
  Transport& transport_;
  store::VersionStore& store_;
  const EndpointOptions& options_;
  EndpointStats& stats_;
  StateLoader loader_;
  // Log records whose outputs the transport confirmed (or that have none), not yet removed from
  // the publication set.
  std::vector<std::uint64_t> confirmed_;
  // reemitOwed()'s sweep: under way or not, its position in the publication set, when it
  // started (the pipeline's creation before the first), and the newest recorded time it takes.
  bool owedSweeping_ = false;
  std::uint64_t owedCursor_ = 0;  // the last seq the sweep looked at
  std::int64_t owedSweepStartNs_ = 0;
  std::int64_t owedCutoffNs_ = 0;
};

}  // namespace idem::detail
