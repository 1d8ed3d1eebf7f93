// Pipeline: the crash-ordering of the state-based algorithm. The numbered steps below are the
// ones DESIGN.md §2 and docs/guarantees.md rely on; do not reorder them.
#include "framework/pipeline.h"

#include <kj/exception.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "idem/error.h"

namespace idem::detail {

namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  char buf[3];
  for (auto b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

// Offset of the first byte where `a` and `b` differ, or nullopt when they are identical.
std::optional<std::size_t> firstDifference(kj::ArrayPtr<const capnp::word> a,
                                           kj::ArrayPtr<const capnp::word> b) {
  auto x = a.asBytes();
  auto y = b.asBytes();
  std::size_t n = std::min(x.size(), y.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return i;
  }
  if (x.size() != y.size()) return n;
  return std::nullopt;
}

std::optional<std::size_t> firstDifference(const std::vector<Outbound>& a,
                                           const std::vector<Outbound>& b, std::size_t& index) {
  for (index = 0; index < std::min(a.size(), b.size()); ++index) {
    const Bytes& x = a[index].envelope;
    const Bytes& y = b[index].envelope;
    auto mismatch = std::mismatch(x.begin(), x.end(), y.begin(), y.end());
    if (mismatch.first != x.end() || mismatch.second != y.end()) {
      return static_cast<std::size_t>(mismatch.first - x.begin());
    }
  }
  if (a.size() != b.size()) return 0;
  return std::nullopt;
}

std::string describe(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const kj::Exception& e) {
    return e.getDescription().cStr();
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

Pipeline::Pipeline(const Handlers& handlers, Transport& transport, store::VersionStore& store,
                   const EndpointOptions& options, EndpointStats& stats)
    : handlers_(handlers),
      transport_(transport),
      store_(store),
      options_(options),
      stats_(stats),
      loader_(store, handlers) {}

void Pipeline::fault(FaultPoint point) const {
  if (options_.faultHook) options_.faultHook(point);
}

std::int64_t Pipeline::nowNs() const {
  TimePoint now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
}

void Pipeline::deadLetter(Item& item, std::string reason, std::string detail) const {
  item.outcome = Outcome::kDeadLetter;
  item.emitted = {};
  item.report.reason = std::move(reason);
  item.report.detail = std::move(detail);
  item.report.attempts = item.delivery->attempt;
}

void Pipeline::decode(Item& item) const {
  try {
    item.input.emplace(item.delivery->envelope, handlers_, options_.maxMessageBytes);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kPermanent) throw;
    deadLetter(item, e.what(), "rejected before any handler ran");
  }
}

void Pipeline::process(std::vector<Delivery>& deliveries) {
  std::vector<Item> items(deliveries.size());
  for (std::size_t i = 0; i < deliveries.size(); ++i) {
    items[i].delivery = &deliveries[i];
    decode(items[i]);
  }

  // 2. Run every input inside one write transaction. On MDB_MAP_FULL the store re-runs this
  // body from the start, so each item's outcome is reset first.
  store::PruneCounts pruned;
  store_.write([&](store::Txn& txn) {
    for (const MessageId& id : confirmed_) store_.markPublished(txn, id);
    for (Item& item : items) {
      if (!item.input) continue;
      item.outcome = Outcome::kNew;
      item.emitted = {};
      handle(txn, item);
    }
    // Retention rides on the batch's transaction, after its inputs (which need the history).
    pruned = prune(txn);
    fault(FaultPoint::kBeforeCommit);
  });
  // 3. The batch is durable (write() returned after a synced commit).
  confirmed_.clear();
  stats_.prunedVersions += pruned.versions;
  stats_.prunedApplied += pruned.applied;
  fault(FaultPoint::kAfterCommit);
  publishAndAck(items);
  ++stats_.batches;
}

void Pipeline::flushPublished() {
  if (confirmed_.empty()) return;
  store_.write([&](store::Txn& txn) {
    for (const MessageId& id : confirmed_) store_.markPublished(txn, id);
  });
  confirmed_.clear();
}

store::PruneCounts Pipeline::prune(store::Txn& txn) const {
  const RetentionPolicy& policy = options_.retention;
  // Not in the first batch after the store opened: recovery reads only what its owed work needs
  // (a sweep reads the oldest, coldest pages of the store).
  if (!policy.enabled || stats_.batches == 0) return {};
  const std::int64_t now = nowNs();
  store::PruneLimits limits;
  limits.historyBeforeNs = now - policy.historyHorizon.count();
  limits.appliedBeforeNs = now - policy.appliedHorizon.count();
  limits.budget = policy.recordsPerBatch;
  return store_.prune(txn, limits);
}

void Pipeline::handle(store::Txn& txn, Item& item) {
  try {
    handleInput(txn, item);
  } catch (const Error& e) {
    // This input cannot be processed (its entity's history needs a handler version that is
    // gone, its key is too long, a record of it is damaged): it alone goes to the error queue.
    // Such errors are raised before the input writes anything.
    if (e.kind() != ErrorKind::kPermanent) throw;
    deadLetter(item, e.what(), "entity key " + item.input->entityKey());
  }
}

void Pipeline::handleInput(store::Txn& txn, Item& item) {
  // 1. The applied index decides: first copy, or a duplicate of an input already versioned.
  if (auto applied = store_.findApplied(txn, item.input->id())) {
    if (!store_.isUnpublished(txn, item.input->id())) {
      // Its outputs are with the transport already. When retention pruned its version, it is
      // "already processed at version N" and cannot be replayed, whatever the options ask (the
      // store may have been pruned while retention was on: checked whenever a replay would run).
      const bool replay = options_.replayPublishedDuplicates;
      if ((replay || options_.retention.enabled) &&
          applied->version < store_.firstRetainedVersion(txn, applied->entity)) {
        item.outcome = Outcome::kPruned;
        return;
      }
      if (!replay) {
        item.outcome = Outcome::kAlreadyPublished;
        return;
      }
    }
    handleDuplicate(txn, item, *applied);
  } else {
    handleNew(txn, item);
  }
}

std::optional<RunResult> Pipeline::runWithRetries(Item& item, const RunInput& input,
                                                  kj::ArrayPtr<const capnp::word> state) {
  std::exception_ptr failure;
  for (unsigned attempt = 0; attempt <= options_.retry.immediateRetries; ++attempt) {
    fault(FaultPoint::kInHandler);
    try {
      return runHandler(input, state);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kBug) throw;
      failure = std::current_exception();
      if (e.kind() == ErrorKind::kPermanent) break;
    } catch (const kj::Exception&) {
      failure = std::current_exception();
    } catch (const std::exception&) {
      failure = std::current_exception();
    }
  }
  const std::string what = describe(failure);
  const std::string handler =
      input.handler->spec.id + " v" + std::to_string(input.handler->spec.version);
  bool permanent = false;
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    permanent = e.kind() == ErrorKind::kPermanent;
  } catch (...) {
  }
  if (permanent || item.delivery->attempt > options_.retry.delayedRetries) {
    deadLetter(item, "handler " + handler + " failed: " + what,
               "attempt " + std::to_string(item.delivery->attempt) + ", entity " +
                   input.handler->entityType + "/" + std::string(input.entityKey));
  } else {
    item.outcome = Outcome::kRetry;
    item.report.reason = "handler " + handler + " failed: " + what;
  }
  return std::nullopt;
}

void Pipeline::handleNew(store::Txn& txn, Item& item) {
  DecodedInput& in = *item.input;
  const RegisteredHandler& handler = in.handler();
  auto entity = store_.findEntity(txn, handler.entityType, in.entityKey());
  const std::uint64_t head = entity ? store_.headVersion(txn, *entity) : 0;
  LoadedState state = entity ? loader_.load(txn, *entity, head) : LoadedState();

  RunInput run{&handler, handlers_.endpointName(), in.entityKey(), in.envelope(), in.payload(),
               nowNs()};
  auto result = runWithRetries(item, run, state.words());
  if (!result) return;

  if (options_.verifyDeterminism) {
    RunResult again = runHandler(run, state.words());
    std::size_t index = 0;
    auto stateDiff = firstDifference(result->state.asPtr(), again.state.asPtr());
    auto outputDiff = firstDifference(result->emitted.messages, again.emitted.messages, index);
    if (stateDiff || outputDiff) {
      deadLetter(item,
                 "non-deterministic handler " + handler.spec.id + " v" +
                     std::to_string(handler.spec.version) + ": two runs on the same state differ",
                 stateDiff ? "new state differs at byte " + std::to_string(*stateDiff)
                           : "output " + std::to_string(index) + " differs at byte " +
                                 std::to_string(*outputDiff));
      return;
    }
  }

  const std::uint64_t entityNumber =
      entity ? *entity : store_.createEntity(txn, handler.entityType, in.entityKey());
  const std::uint64_t version = head + 1;
  const bool changed = head == 0 || firstDifference(result->state.asPtr(), state.words());
  store::HistoryEntry entry;
  entry.handlerId = handler.spec.id;
  entry.handlerVersion = handler.spec.version;
  entry.recordedAtNs = run.recordedAtNs;
  entry.outputCount = static_cast<std::uint32_t>(result->emitted.messages.size());
  entry.outputDigest = result->emitted.digest;
  entry.stateChanged = changed;
  entry.input = item.delivery->envelope;
  std::optional<std::span<const std::byte>> snapshot;
  if (changed && (version == 1 || version % options_.snapshotEvery == 0)) {
    snapshot = asBytes(result->state.asPtr());
  }
  store_.append(txn, entityNumber, version, in.id(), entry, snapshot);
  if (!result->emitted.messages.empty()) store_.markUnpublished(txn, in.id());
  item.emitted = std::move(result->emitted);
  item.outcome = Outcome::kNew;
}

void Pipeline::handleDuplicate(store::Txn& txn, Item& item, const store::Applied& applied) {
  DecodedInput& in = *item.input;
  auto entry = store_.findHistory(txn, applied.entity, applied.version);
  if (!entry) {
    fail(ErrorKind::kBug, "input " + in.id().toHex() + " is applied at version " +
                              std::to_string(applied.version) + " of entity " +
                              std::to_string(applied.entity) + ", which has no history entry");
  }
  const std::string recordedBy =
      std::string(entry->handlerId) + " v" + std::to_string(entry->handlerVersion);
  const RegisteredHandler* handler = handlers_.findBySpec(entry->handlerId, entry->handlerVersion);
  if (handler == nullptr) {
    deadLetter(item, "duplicate of input " + in.id().toHex() + " cannot be replayed",
               "its version " + std::to_string(applied.version) + " was recorded by handler " +
                   recordedBy + ", which is no longer registered");
    return;
  }
  auto name = store_.findEntityName(txn, applied.entity);
  const std::string key = name ? name->key : in.entityKey();
  const std::uint32_t recordedCount = entry->outputCount;
  const Digest recordedDigest = entry->outputDigest;
  const std::int64_t recordedAt = entry->recordedAtNs;

  // 2b. Point in time: the state the first copy saw and the input as the first copy recorded it
  // (a copy may differ in bytes that are not its identity, e.g. an edge retry's send time).
  LoadedState before = loader_.load(txn, applied.entity, applied.version - 1);
  RecordedInput recorded(entry->input);
  RunInput run{handler,   handlers_.endpointName(), key, recorded.envelope(), recorded.payload(),
               recordedAt};
  auto result = runWithRetries(item, run, before.words());
  if (!result) return;

  if (result->emitted.digest != recordedDigest ||
      result->emitted.messages.size() != recordedCount) {
    std::string stateNote = "no snapshot of that version to compare the state with";
    auto snapshot = store_.findSnapshotAtOrBefore(txn, applied.entity, applied.version);
    if (snapshot && snapshot->version == applied.version) {
      auto recordedState = kj::ArrayPtr<const capnp::word>(
          reinterpret_cast<const capnp::word*>(snapshot->state.data()),
          snapshot->state.size() / sizeof(capnp::word));
      auto diff = firstDifference(result->state.asPtr(), recordedState);
      stateNote = diff ? "the re-run state differs from the recorded snapshot at byte " +
                             std::to_string(*diff)
                       : "the re-run state equals the recorded snapshot";
    }
    deadLetter(item,
               "non-determinism: handler " + recordedBy + " re-run on " + handler->entityType +
                   "/" + key + " version " + std::to_string(applied.version) +
                   " emits other outputs than it recorded",
               "recorded " + std::to_string(recordedCount) + " outputs with digest " +
                   hex(recordedDigest) + "; the re-run emits " +
                   std::to_string(result->emitted.messages.size()) + " with digest " +
                   hex(result->emitted.digest) + "; " + stateNote);
    return;
  }
  item.emitted = std::move(result->emitted);
  item.outcome = Outcome::kDuplicate;
}

void Pipeline::publishAndAck(std::vector<Item>& items) {
  // 4. Publish every output of the batch, new and re-emitted, and wait for confirmation.
  std::vector<Outbound> outputs;
  std::vector<MessageId> emitters;
  for (Item& item : items) {
    if (item.emitted.messages.empty()) continue;
    emitters.push_back(item.input->id());
    for (Outbound& m : item.emitted.messages) outputs.push_back(std::move(m));
  }
  if (!outputs.empty()) transport_.publish(outputs);
  stats_.published += outputs.size();
  confirmed_.insert(confirmed_.end(), emitters.begin(), emitters.end());
  fault(FaultPoint::kAfterPublish);

  // 5. Settle every delivery: dead letters and retries first, then one ack for the rest.
  const std::string& endpoint = handlers_.endpointName();
  std::vector<std::uint64_t> acks;
  for (Item& item : items) {
    switch (item.outcome) {
      case Outcome::kNew:
        ++stats_.processed;
        acks.push_back(item.delivery->tag);
        break;
      case Outcome::kDuplicate:
        ++stats_.duplicates;
        acks.push_back(item.delivery->tag);
        break;
      case Outcome::kAlreadyPublished:
        ++stats_.alreadyPublished;
        acks.push_back(item.delivery->tag);
        break;
      case Outcome::kPruned:
        ++stats_.prunedDuplicates;
        acks.push_back(item.delivery->tag);
        break;
      case Outcome::kRetry: {
        const unsigned shift = std::min<unsigned>(item.delivery->attempt - 1, 20);
        transport_.retryLater(endpoint, item.delivery->tag,
                              options_.retry.firstDelay * (1u << shift));
        ++stats_.retried;
        break;
      }
      case Outcome::kDeadLetter:
        item.report.failedAt = std::chrono::system_clock::now();
        transport_.deadLetter(endpoint, item.delivery->tag, item.report);
        ++stats_.deadLettered;
        break;
    }
  }
  fault(FaultPoint::kBeforeAck);
  if (!acks.empty()) transport_.ack(endpoint, acks);
}

}  // namespace idem::detail
