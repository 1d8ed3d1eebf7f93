// Pipeline: the crash-ordering of the state-based algorithm. The numbered steps below are the
// ones DESIGN.md §2 and docs/guarantees.md rely on; do not reorder them.
#include "framework/pipeline.h"

#include <kj/exception.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
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
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

std::string handlerName(const RegisteredHandler& handler) {
  return handler.spec.id + " v" + std::to_string(handler.spec.version);
}

// How the failure log lines name an input: what an operator searches by.
std::string describeInput(const Delivery& delivery, const std::optional<DecodedInput>& input) {
  if (!input) return "an undecodable delivery (attempt " + std::to_string(delivery.attempt) + ")";
  return "message " + input->id().toHex() + " entity " + input->handler().entityType + "/" +
         std::string(input->entityKey()) + " handler " + handlerName(input->handler());
}

std::string versionLabel(std::string_view entityType, std::string_view key, std::uint64_t v) {
  return std::string(entityType) + "/" + std::string(key) + " version " + std::to_string(v);
}

}  // namespace

Pipeline::Pipeline(const Handlers& handlers, Transport& transport, store::VersionStore& store,
                   const EndpointOptions& options, EndpointStats& stats)
    : handlers_(handlers),
      transport_(transport),
      store_(store),
      options_(options),
      stats_(stats),
      loader_(store, handlers),
      owedSweepStartNs_(nowNs()) {}

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
  const auto batchStart = std::chrono::steady_clock::now();
  std::vector<Item> items(deliveries.size());
  for (std::size_t i = 0; i < deliveries.size(); ++i) {
    items[i].delivery = &deliveries[i];
    decode(items[i]);
  }

  // 2. Run every input inside one write transaction. On MDB_MAP_FULL the store re-runs this
  // body from the start, so each item's outcome is reset first.
  store::PruneCounts pruned;
  const auto writeStart = std::chrono::steady_clock::now();
  store_.write([&](store::Txn& txn) {
    recordConfirmed(txn);
    for (Item& item : items) {
      if (!item.input) continue;
      item.outcome = Outcome::kNew;
      item.emitted = {};
      item.nonDeterministic = false;
      handle(txn, item);
    }
    // Retention rides on the batch's transaction, after its inputs (which need the history).
    pruned = prune(txn);
    fault(FaultPoint::kBeforeCommit);
  });
  // 3. The batch is durable (write() returned after a synced commit).
  stats_.commitLatency.record(std::chrono::steady_clock::now() - writeStart);
  confirmed_.clear();
  stats_.prunedVersions += pruned.versions;
  stats_.prunedApplied += pruned.applied;
  fault(FaultPoint::kAfterCommit);
  // 3b. The commit sink (the NATS changelog) takes the batch's records before anything leaves.
  if (options_.afterCommit) {
    std::vector<CommittedRecord> records;
    for (const Item& item : items) {
      if (item.outcome == Outcome::kNew) records.push_back({item.seq, item.input->id()});
    }
    options_.afterCommit(store_, records);
  }
  publishAndAck(items);
  ++stats_.batches;
  stats_.batchLatency.record(std::chrono::steady_clock::now() - batchStart);
}

void Pipeline::flushPublished() {
  if (confirmed_.empty()) return;
  store_.write([&](store::Txn& txn) { recordConfirmed(txn); });
  confirmed_.clear();
}

void Pipeline::recordConfirmed(store::Txn& txn) {
  std::vector<std::uint64_t> seqs = confirmed_;  // a copy: the body may run again
  std::sort(seqs.begin(), seqs.end());
  for (std::size_t i = 0; i < seqs.size();) {
    std::size_t j = i;
    while (j + 1 < seqs.size() && seqs[j + 1] <= seqs[j] + 1) ++j;
    store_.markPublished(txn, seqs[i], seqs[j]);
    i = j + 1;
  }
}

std::int64_t Pipeline::reemitOwedAfterNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(options_.reemitOwedAfter).count();
}

bool Pipeline::owedSweepDue() const {
  return owedSweeping_ || nowNs() - owedSweepStartNs_ >= reemitOwedAfterNs();
}

bool Pipeline::reemitOwed(std::size_t budget) {
  if (!owedSweeping_) {
    const std::int64_t now = nowNs();
    const std::int64_t after = reemitOwedAfterNs();
    if (now - owedSweepStartNs_ < after) return false;
    owedSweeping_ = true;
    owedSweepStartNs_ = now;
    owedCutoffNs_ = now - after;
    owedCursor_ = 0;
  }
  const std::string& endpoint = handlers_.endpointName();
  struct Owed {
    std::uint64_t seq;
    std::string what;
    std::vector<Outbound> outputs;
  };
  std::vector<Owed> owed;
  std::uint64_t cursor = owedCursor_;
  std::vector<std::uint64_t> nothingOwed;
  bool finished = true;
  store_.read([&](store::Txn& txn) {
    store_.forEachUnpublished(txn, owedCursor_, [&](std::uint64_t seq) {
      if (budget-- == 0) {
        finished = false;
        return false;
      }
      cursor = seq;
      const auto record = store_.findRecord(txn, seq);
      const auto name = record ? store_.findEntityName(txn, record->entity) : std::nullopt;
      if (!record || !name || record->entry.outputCount == 0) {
        nothingOwed.push_back(seq);  // pruned, or a record without outputs: nothing is owed
        return true;
      }
      const store::HistoryEntry* entry = &record->entry;
      if (entry->recordedAtNs > owedCutoffNs_) return true;  // young: its process is on it
      const store::Applied applied{record->entity, record->version, seq, entry->recordedAtNs};
      const std::string what = versionLabel(name->entityType, name->key, record->version);
      const RegisteredHandler* handler =
          handlers_.findBySpec(entry->handlerId, entry->handlerVersion);
      if (handler == nullptr) {
        spdlog::warn("endpoint {}: outputs of {} stay owed: its handler {} v{} is not registered",
                     endpoint, what, entry->handlerId, entry->handlerVersion);
        return true;
      }
      try {
        RecordedRun rerun(loader_, txn, applied, *entry, *handler, endpoint, name->key);
        RunResult result = runHandler(rerun.input(), rerun.stateBefore());
        if (result.emitted.digest != entry->outputDigest) {
          spdlog::error(
              "endpoint {}: non-determinism: {} re-run by {} emits other outputs than "
              "it recorded; they stay owed",
              endpoint, what, handlerName(*handler));
          return true;
        }
        owed.push_back({seq, what, std::move(result.emitted.messages)});
      } catch (const std::exception& e) {
        spdlog::warn("endpoint {}: outputs of {} stay owed: re-running it failed: {}", endpoint,
                     what, e.what());
      } catch (const kj::Exception& e) {
        spdlog::warn("endpoint {}: outputs of {} stay owed: re-running it failed: {}", endpoint,
                     what, e.getDescription().cStr());
      }
      return true;
    });
  });
  for (Owed& o : owed) {
    try {
      transport_.publish(o.outputs);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kPermanent) throw;  // the step is retried from owedCursor_
      spdlog::error("endpoint {}: outputs of {} stay owed: the transport refuses them: {}",
                    endpoint, o.what, e.what());
      continue;
    }
    stats_.published += o.outputs.size();
    ++stats_.reemittedOwed;
    confirmed_.push_back(o.seq);
  }
  confirmed_.insert(confirmed_.end(), nothingOwed.begin(), nothingOwed.end());
  owedCursor_ = cursor;
  owedSweeping_ = !finished;
  return owedSweeping_;
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
  // A record whose state is not kept inline (snapshotEvery > 1) leaves the log only once its
  // state is computed: the state before it (its entity's base) folded through its handler.
  const auto stateAfter =
      [&](store::Txn& t, const store::LogRecord& record,
          std::span<const std::byte> before) -> std::optional<std::vector<std::byte>> {
    const auto name = store_.findEntityName(t, record.entity);
    if (!name) return std::nullopt;
    try {
      const kj::ArrayPtr<const capnp::word> words(
          reinterpret_cast<const capnp::word*>(before.data()), before.size() / sizeof(capnp::word));
      const Words after =
          rerunRecorded(handlers_, record.entry, *name, record.version, words).state;
      const auto bytes = asBytes(after.asPtr());
      return std::vector<std::byte>(bytes.begin(), bytes.end());
    } catch (const std::exception& e) {
      spdlog::warn("endpoint {}: retention waits at {}: its state cannot be re-derived: {}",
                   handlers_.endpointName(),
                   versionLabel(name->entityType, name->key, record.version), e.what());
    } catch (const kj::Exception& e) {
      spdlog::warn("endpoint {}: retention waits at {}: its state cannot be re-derived: {}",
                   handlers_.endpointName(),
                   versionLabel(name->entityType, name->key, record.version),
                   e.getDescription().cStr());
    }
    return std::nullopt;
  };
  return store_.prune(txn, limits, stateAfter);
}

void Pipeline::handle(store::Txn& txn, Item& item) {
  const auto where = [&] { return "entity key " + item.input->entityKey(); };
  try {
    handleInput(txn, item);
  } catch (const Error& e) {
    // This input cannot be processed (its entity's history needs a handler version that is
    // gone, its key is too long, a record of it is damaged): it alone goes to the error queue.
    // Such errors are raised before the input writes anything.
    if (e.kind() != ErrorKind::kPermanent) throw;
    deadLetter(item, e.what(), where());
  } catch (const kj::Exception& e) {
    // Handler code re-run while loading a state (a fold through recorded versions) threw: a
    // failed attempt of this input, like a throw from its own run. Nothing was written yet.
    failAttempt(item, std::string("loading the state failed: ") + e.getDescription().cStr(),
                where(), false);
  } catch (const std::exception& e) {
    failAttempt(item, std::string("loading the state failed: ") + e.what(), where(), false);
  }
}

void Pipeline::failAttempt(Item& item, std::string reason, const std::string& where,
                           bool permanent) {
  if (permanent || item.delivery->attempt > options_.retry.delayedRetries) {
    deadLetter(item, std::move(reason),
               "attempt " + std::to_string(item.delivery->attempt) + ", " + where);
  } else {
    item.outcome = Outcome::kRetry;
    item.emitted = {};
    item.report.reason = std::move(reason);
    item.report.detail = where;
  }
}

bool Pipeline::refuseUnpublishable(Item& item, const std::string& handler, const Emitted& emitted) {
  for (std::size_t index = 0; index < emitted.messages.size(); ++index) {
    const Outbound& out = emitted.messages[index];
    std::string refused;
    if (out.envelope.size() > options_.maxMessageBytes) {
      refused = "it is " + std::to_string(out.envelope.size()) +
                " bytes, over the endpoint's maxMessageBytes of " +
                std::to_string(options_.maxMessageBytes);
    } else {
      try {
        transport_.checkOutbound(out);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kPermanent) throw;
        refused = e.what();
      }
    }
    if (refused.empty()) continue;
    const std::string to =
        out.destination.empty() ? "the subscribers of its type" : "'" + out.destination + "'";
    deadLetter(item,
               "handler " + handler + " emits output " + std::to_string(index) + " to " + to +
                   " that the transport can never accept: " + refused,
               "nothing was committed; entity " + item.input->handler().entityType + "/" +
                   item.input->entityKey());
    return true;
  }
  return false;
}

void Pipeline::handleInput(store::Txn& txn, Item& item) {
  // 1. The applied index decides: first copy, or a duplicate of an input already versioned.
  if (auto applied = store_.findApplied(txn, item.input->id())) {
    if (!store_.isUnpublished(txn, applied->seq)) {
      // Its outputs are with the transport already. When retention pruned its version, it is
      // "already processed at version N" and cannot be replayed, whatever the options ask (the
      // store may have been pruned while retention was on: checked whenever a replay would run).
      const bool replay = options_.replayPublishedDuplicates;
      if ((replay || options_.retention.enabled) && applied->seq <= store_.prunedThrough(txn)) {
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
                                                  kj::ArrayPtr<const capnp::word> state,
                                                  bool verify) {
  const std::string handler = handlerName(*input.handler);
  std::exception_ptr failure;
  for (unsigned attempt = 0; attempt <= options_.retry.immediateRetries; ++attempt) {
    fault(FaultPoint::kInHandler);
    try {
      RunResult result = runHandler(input, state);
      if (verify) {
        // The second run is handler code too: whatever it throws is a failed attempt.
        RunResult again = runHandler(input, state);
        std::size_t index = 0;
        auto stateDiff = firstDifference(result.state.asPtr(), again.state.asPtr());
        auto outputDiff = firstDifference(result.emitted.messages, again.emitted.messages, index);
        if (stateDiff || outputDiff) {
          item.nonDeterministic = true;
          deadLetter(item,
                     "non-deterministic handler " + handler + ": two runs on the same state differ",
                     stateDiff ? "new state differs at byte " + std::to_string(*stateDiff)
                               : "output " + std::to_string(index) + " differs at byte " +
                                     std::to_string(*outputDiff));
          return std::nullopt;
        }
      }
      return result;
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kBug) throw;
      failure = std::current_exception();
      if (e.kind() == ErrorKind::kPermanent) break;
    } catch (...) {
      // kj::Exception (e.g. a Cap'n Proto read past its limits), std::exception, anything else
      // handler code throws: this attempt failed.
      failure = std::current_exception();
    }
    if (attempt < options_.retry.immediateRetries) {
      spdlog::info(
          "endpoint {}: handler failure: message {} entity {}/{} handler {} (run {} of "
          "{}, again now): {}",
          handlers_.endpointName(), item.input->id().toHex(), input.handler->entityType,
          input.entityKey, handler, attempt + 1, options_.retry.immediateRetries + 1,
          describe(failure));
    }
  }
  bool permanent = false;
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    permanent = e.kind() == ErrorKind::kPermanent;
  } catch (...) {
  }
  failAttempt(item, "handler " + handler + " failed: " + describe(failure),
              "entity " + input.handler->entityType + "/" + std::string(input.entityKey),
              permanent);
  return std::nullopt;
}

void Pipeline::handleNew(store::Txn& txn, Item& item) {
  DecodedInput& in = *item.input;
  const RegisteredHandler& handler = in.handler();
  auto entity = store_.findEntity(txn, handler.entityType, in.entityKey());
  // One head lookup: its version and its state (kept with the head, so no fold runs).
  const std::optional<store::Head> current = entity ? store_.findHead(txn, *entity) : std::nullopt;
  const std::uint64_t head = current ? current->version : 0;
  const LoadedState state = current
                                ? LoadedState(kj::ArrayPtr<const capnp::word>(
                                      reinterpret_cast<const capnp::word*>(current->state.data()),
                                      current->state.size() / sizeof(capnp::word)))
                                : LoadedState();

  RunInput run{&handler,      handlers_.endpointName(), in.entityKey(),
               in.envelope(), in.payloadWords(),        nowNs()};
  auto result = runWithRetries(item, run, state.words(), options_.verifyDeterminism);
  if (!result) return;
  // An output no transport could take would be committed and then refused for ever: it fails
  // the run instead, before anything is written.
  if (refuseUnpublishable(item, handlerName(handler), result->emitted)) return;

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
  // The head keeps its state whatever the policy, so that loading it never re-runs recorded
  // handlers (a deploy that retires a handler version must not freeze its entities); the
  // snapshot policy decides which log records carry their state too.
  std::optional<std::span<const std::byte>> newState;
  if (changed) newState = asBytes(result->state.asPtr());
  const bool stateInLog = version % options_.snapshotEvery == 0;
  item.seq = store_.append(txn, entityNumber, version, in.id(), entry, newState, stateInLog);
  item.emitted = std::move(result->emitted);
  item.outcome = Outcome::kNew;
  item.version = version;
}

void Pipeline::handleDuplicate(store::Txn& txn, Item& item, const store::Applied& applied) {
  DecodedInput& in = *item.input;
  auto record = store_.findRecord(txn, applied.seq);
  if (!record) {
    fail(ErrorKind::kBug, "input " + in.id().toHex() + " is applied at version " +
                              std::to_string(applied.version) + " of entity " +
                              std::to_string(applied.entity) + ", whose log record " +
                              std::to_string(applied.seq) + " is gone");
  }
  const store::HistoryEntry* entry = &record->entry;
  const std::string recordedBy =
      std::string(entry->handlerId) + " v" + std::to_string(entry->handlerVersion);
  const RegisteredHandler* handler = handlers_.findBySpec(entry->handlerId, entry->handlerVersion);
  auto name = store_.findEntityName(txn, applied.entity);
  const std::string key = name ? name->key : in.entityKey();
  item.version = applied.version;
  item.seq = applied.seq;
  if (handler == nullptr) {
    // Its outputs are owed and only that code can re-derive them. During a rolling deploy a
    // process still running it may take the copy (a delayed retry); after that, the error queue.
    failAttempt(item,
                "duplicate of input " + in.id().toHex() + " cannot be replayed: " +
                    versionLabel(in.handler().entityType, key, applied.version) +
                    " was recorded by handler " + recordedBy +
                    ", which is not registered (register it with replayOnly() to re-emit its "
                    "outputs)",
                "its outputs were not confirmed published", false);
    return;
  }
  const std::uint32_t recordedCount = entry->outputCount;
  const Digest recordedDigest = entry->outputDigest;

  // 2b. Point in time: the state the first copy saw and the input as the first copy recorded it
  // (a copy may differ in bytes that are not its identity, e.g. an edge retry's send time).
  RecordedRun rerun(loader_, txn, applied, *entry, *handler, handlers_.endpointName(), key);
  auto result = runWithRetries(item, rerun.input(), rerun.stateBefore(), false);
  if (!result) return;

  if (result->emitted.digest != recordedDigest ||
      result->emitted.messages.size() != recordedCount) {
    std::string stateNote = "no stored state of that version to compare the state with";
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
    item.nonDeterministic = true;
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

Pipeline::Gathered Pipeline::gatherOutputs(std::vector<Item>& items) {
  Gathered g;
  for (Item& item : items) {
    // A new version without outputs owes nothing: confirming it keeps the batch's run of seqs
    // whole, so that the publication set loses the batch's range in one step.
    if (item.outcome == Outcome::kNew && item.emitted.messages.empty()) {
      confirmed_.push_back(item.seq);
    }
    if (item.emitted.messages.empty()) continue;
    const std::size_t begin = g.outputs.size();
    for (Outbound& m : item.emitted.messages) g.outputs.push_back(std::move(m));
    g.parts.push_back({&item, begin, g.outputs.size()});
  }
  return g;
}

void Pipeline::publishOutputs(Gathered& g) {
  if (g.outputs.empty()) return;
  try {
    transport_.publish(g.outputs);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kPermanent) throw;
    // Some output can never be accepted now: find whose, and publish everything else.
    for (Part& part : g.parts) {
      try {
        transport_.publish(std::span(g.outputs).subspan(part.begin, part.end - part.begin));
      } catch (const Error& refused) {
        if (refused.kind() != ErrorKind::kPermanent) throw;
        const std::size_t count = part.end - part.begin;
        // Committed all the same: counted as what it was, then as a dead letter.
        if (part.item->outcome == Outcome::kNew) ++stats_.processed;
        if (part.item->outcome == Outcome::kDuplicate) ++stats_.duplicates;
        deadLetter(*part.item,
                   "outputs of committed version " +
                       versionLabel(part.item->input->handler().entityType,
                                    part.item->input->entityKey(), part.item->version) +
                       " refused by the transport: " + refused.what(),
                   "the version is committed and its " + std::to_string(count) +
                       " outputs are still owed: retrying this entry re-emits them once the "
                       "transport accepts them");
        part.end = part.begin;  // nothing of it was published
      }
    }
  }
}

void Pipeline::confirmOutputs(const Gathered& g) {
  for (const Part& part : g.parts) {
    if (part.end == part.begin) continue;
    stats_.published += part.end - part.begin;
    confirmed_.push_back(part.item->seq);
  }
}

std::vector<std::uint64_t> Pipeline::acksOf(const std::vector<Item>& items) {
  std::vector<std::uint64_t> acks;
  for (const Item& item : items) {
    if (item.outcome != Outcome::kRetry && item.outcome != Outcome::kDeadLetter) {
      acks.push_back(item.delivery->tag);
    }
  }
  return acks;
}

void Pipeline::handOverFailures(std::vector<Item>& items) {
  const std::string& endpoint = handlers_.endpointName();
  for (Item& item : items) {
    switch (item.outcome) {
      case Outcome::kNew:
        ++stats_.processed;
        break;
      case Outcome::kDuplicate:
        ++stats_.duplicates;
        break;
      case Outcome::kAlreadyPublished:
        ++stats_.alreadyPublished;
        break;
      case Outcome::kPruned:
        ++stats_.prunedDuplicates;
        break;
      case Outcome::kRetry: {
        const unsigned shift = std::min<unsigned>(item.delivery->attempt - 1, 20);
        spdlog::warn("endpoint {}: retry: {} failed (attempt {} of {}, {}): {}", endpoint,
                     describeInput(*item.delivery, item.input), item.delivery->attempt,
                     options_.retry.delayedRetries + 1, item.report.detail, item.report.reason);
        transport_.retryLater(endpoint, item.delivery->tag,
                              options_.retry.firstDelay * (1u << shift));
        ++stats_.retried;
        break;
      }
      case Outcome::kDeadLetter:
        spdlog::error("endpoint {}: dead letter: {}: {} ({})", endpoint,
                      describeInput(*item.delivery, item.input), item.report.reason,
                      item.report.detail);
        if (item.nonDeterministic) ++stats_.nonDeterminism;
        item.report.failedAt = std::chrono::system_clock::now();
        transport_.deadLetter(endpoint, item.delivery->tag, item.report);
        ++stats_.deadLettered;
        break;
    }
  }
}

bool Pipeline::settleAtomically(std::vector<Item>& items, Gathered& g) {
  // 4+5 in one step of the transport: every output of the batch stored, the inputs that produced
  // them acked, and the next batch leased, all durable together or not at all. There is no
  // moment between publish and ack, so kBeforeAck fires before the step (nothing published,
  // nothing acked) and kAfterPublish after it (published and acked, confirmations not recorded).
  fault(FaultPoint::kBeforeAck);
  const std::vector<std::uint64_t> acks = acksOf(items);
  try {
    next_ = transport_.settle(handlers_.endpointName(), g.outputs, acks,
                              leaseNext_ ? options_.batchSize : 0);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kPermanent) throw;
    return false;  // nothing was written: publish and ack apart, finding the refused outputs
  }
  confirmOutputs(g);
  // Retries and dead letters settle only their own deliveries, and emit nothing.
  handOverFailures(items);
  fault(FaultPoint::kAfterPublish);
  return true;
}

void Pipeline::publishAndAck(std::vector<Item>& items) {
  Gathered g = gatherOutputs(items);
  const bool atomic = transport_.settlesAtomically();
  if (atomic && settleAtomically(items, g)) return;

  // 4. Publish every output of the batch, new and re-emitted, and wait for confirmation.
  publishOutputs(g);
  confirmOutputs(g);
  fault(FaultPoint::kAfterPublish);

  // 5. Settle every delivery: dead letters and retries first, then one ack for the rest.
  handOverFailures(items);
  if (!atomic) fault(FaultPoint::kBeforeAck);  // (an atomic transport's fired before it failed)
  const std::vector<std::uint64_t> acks = acksOf(items);
  if (!acks.empty()) transport_.ack(handlers_.endpointName(), acks);
}

}  // namespace idem::detail
