// HistoryFold: a serial fold of the recorded inputs.
#include "framework/history_fold.h"

#include <algorithm>
#include <string>
#include <vector>

#include "idem/error.h"

namespace idem::detail {

void foldHistory(const store::VersionStore& store, store::Txn& txn, const Handlers& handlers,
                 std::uint64_t entity, const std::function<void(const FoldedVersion&)>& visit) {
  foldHistory(
      store, txn, handlers, entity,
      [&](const store::HistoryEntry& entry, std::uint64_t) {
        return handlers.findBySpec(entry.handlerId, entry.handlerVersion);
      },
      visit);
}

void foldHistory(const store::VersionStore& store, store::Txn& txn, const Handlers& handlers,
                 std::uint64_t entity, const HandlerChoice& choose,
                 const std::function<void(const FoldedVersion&)>& visit) {
  auto name = store.findEntityName(txn, entity);
  if (!name) fail(ErrorKind::kBug, "entity " + std::to_string(entity) + " has no name");
  const std::vector<std::uint64_t> records = store.retainedRecords(txn, entity);
  const std::optional<store::Head> head = store.findHead(txn, entity);
  const std::uint64_t first = std::max<std::uint64_t>(store.firstRetainedVersion(txn, entity), 1);
  Words state;  // empty = the initial state
  if (first > 1 && !records.empty()) {
    // Retention pruned versions 1..first-1: the fold starts from the base kept at first-1.
    auto base = store.findBase(txn, entity);
    if (!base || base->version != first - 1) {
      fail(ErrorKind::kPermanent, "entity " + name->entityType + "/" + name->key +
                                      ": history below version " + std::to_string(first) +
                                      " was pruned but no base state of version " +
                                      std::to_string(first - 1) + " is kept");
    }
    state = kj::heapArray<capnp::word>(
        kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(base->state.data()),
                                        base->state.size() / sizeof(capnp::word)));
  }
  for (const std::uint64_t seq : records) {
    auto record = store.findRecord(txn, seq);
    if (!record) {
      fail(ErrorKind::kPermanent, "entity " + name->entityType + "/" + name->key +
                                      " is missing log record " + std::to_string(seq));
    }
    const std::uint64_t v = record->version;
    const store::HistoryEntry* entry = &record->entry;
    RecordedInput recorded(entry->input);
    const RegisteredHandler* handler = choose(*entry, recorded.envelope().getMessageType());
    if (handler == nullptr) {
      fail(ErrorKind::kPermanent,
           "cannot re-run " + name->entityType + "/" + name->key + " version " + std::to_string(v) +
               ": it was recorded by handler " + std::string(entry->handlerId) + " v" +
               std::to_string(entry->handlerVersion) + ", which is no longer registered");
    }
    RunInput input{handler,
                   handlers.endpointName(),
                   name->key,
                   recorded.envelope(),
                   recorded.payloadWords(),
                   entry->recordedAtNs};
    RunResult result = runHandler(input, state.asPtr());
    FoldedVersion folded;
    folded.version = v;
    folded.entry = entry;
    folded.result = &result;
    folded.handler = handler;
    folded.stateBefore = state.asPtr();
    folded.digestMatches = result.emitted.digest == entry->outputDigest &&
                           result.emitted.messages.size() == entry->outputCount;
    folded.storedState = record->state;
    if (head && head->seq == seq) folded.storedState = head->state;
    visit(folded);
    state = kj::mv(result.state);
  }
}

}  // namespace idem::detail
