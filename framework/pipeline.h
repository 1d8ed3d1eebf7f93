// Pipeline: one batch through the state-based algorithm (DESIGN.md §2):
//   1. decode each delivery (malformed → error queue),
//   2. in one write transaction: new input → run on the head state, append a version;
//      duplicate → re-run on the state before its recorded version, compare the output digest,
//   3. commit durably, 4. publish every output and wait for confirmation, 5. ack.
#pragma once

#include <optional>
#include <utility>
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
  // Whether the next reemitOwed() call would do work: a sweep under way, or one due to start.
  bool owedSweepDue() const;

  // Whether process() lets an atomically settling transport lease the next batch (up to
  // batchSize) in the same step as it settles this one; the endpoint turns it off to drain.
  void leaseNextWhileSettling(bool on) noexcept { leaseNext_ = on; }
  // The deliveries the last settle leased (none unless the transport did), moved out. They are
  // under lease: process them, or their leases run out and they are delivered again.
  std::vector<Delivery> takeLeasedNext() { return std::exchange(next_, {}); }

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
    std::uint64_t version = 0;      // the version of its entity the item committed or replays
    std::uint64_t seq = 0;          // that version's log record
    bool nonDeterministic = false;  // dead-lettered because two runs differed
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
  // The batch's outputs in one span, and which item produced which of them.
  struct Part {
    Item* item;
    std::size_t begin, end;  // its outputs; begin == end once refused
  };
  struct Gathered {
    std::vector<Outbound> outputs;
    std::vector<Part> parts;
  };
  Gathered gatherOutputs(std::vector<Item>& items);
  void publishAndAck(std::vector<Item>& items);
  // With a transport that settles atomically: outputs, acks and the next lease in one step.
  // False, with nothing settled, when the transport refuses some output permanently.
  bool settleAtomically(std::vector<Item>& items, Gathered& g);
  // Publishes the batch's outputs. When the transport refuses some permanently (they passed
  // checkOutbound() before their commit, but its limits changed), publishes item by item and
  // dead-letters the inputs whose outputs are refused: their versions stay owed.
  void publishOutputs(Gathered& g);
  // Counts what was published and remembers the versions confirmed (for recordConfirmed).
  void confirmOutputs(const Gathered& g);
  // Counts each item's outcome; hands retries and dead letters over to the transport.
  void handOverFailures(std::vector<Item>& items);
  // The tags of the deliveries to ack: every outcome but a retry or a dead letter.
  static std::vector<std::uint64_t> acksOf(const std::vector<Item>& items);
  void fault(FaultPoint point) const;
  // Removes confirmed_ from the publication set (one range per run of consecutive seqs).
  void recordConfirmed(store::Txn& txn);
  std::int64_t nowNs() const;
  std::int64_t reemitOwedAfterNs() const;

  const Handlers& handlers_;
  Transport& transport_;
  store::VersionStore& store_;
  const EndpointOptions& options_;
  EndpointStats& stats_;
  StateLoader loader_;
  // Log records whose outputs the transport confirmed (or that have none), not yet removed from
  // the publication set.
  std::vector<std::uint64_t> confirmed_;
  bool leaseNext_ = true;
  std::vector<Delivery> next_;  // leased by the last settle, for takeLeasedNext()
  // reemitOwed()'s sweep: under way or not, its position in the publication set, when it
  // started (the pipeline's creation before the first), and the newest recorded time it takes.
  bool owedSweeping_ = false;
  std::uint64_t owedCursor_ = 0;  // the last seq the sweep looked at
  std::int64_t owedSweepStartNs_ = 0;
  std::int64_t owedCutoffNs_ = 0;
};

}  // namespace idem::detail
