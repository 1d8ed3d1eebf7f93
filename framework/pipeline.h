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

 private:
  enum class Outcome { kNew, kDuplicate, kAlreadyPublished, kPruned, kRetry, kDeadLetter };
  struct Item {
    Delivery* delivery = nullptr;
    std::optional<DecodedInput> input;
    Outcome outcome = Outcome::kNew;
    Emitted emitted;
    ErrorReport report;
  };

  void decode(Item& item) const;
  // Dead-letters the item on a permanent error; other errors abort the batch.
  void handle(store::Txn& txn, Item& item);
  void handleInput(store::Txn& txn, Item& item);
  void handleNew(store::Txn& txn, Item& item);
  void handleDuplicate(store::Txn& txn, Item& item, const store::Applied& applied);
  // Runs the handler with immediate retries; on failure sets the item's outcome and returns
  // nullopt.
  std::optional<RunResult> runWithRetries(Item& item, const RunInput& input,
                                          kj::ArrayPtr<const capnp::word> state);
  void deadLetter(Item& item, std::string reason, std::string detail) const;
  // Retention's bounded step for this batch (a no-op when retention is off, and in the first
  // batch of this pipeline).
  store::PruneCounts prune(store::Txn& txn) const;
  void publishAndAck(std::vector<Item>& items);
  void fault(FaultPoint point) const;
  std::int64_t nowNs() const;

  const Handlers& handlers_;
  Transport& transport_;
  store::VersionStore& store_;
  const EndpointOptions& options_;
  EndpointStats& stats_;
  StateLoader loader_;
  // Inputs whose outputs the transport confirmed, not yet removed from the publication set.
  std::vector<MessageId> confirmed_;
};

}  // namespace idem::detail
