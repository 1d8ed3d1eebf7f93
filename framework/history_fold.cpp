// HistoryFold: a serial fold of the recorded inputs.
#include "framework/history_fold.h"

#include <algorithm>
#include <string>

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
  const std::uint64_t head = store.headVersion(txn, entity);
  const std::uint64_t first = std::max<std::uint64_t>(store.firstRetainedVersion(txn, entity), 1);
  Words state;  // empty = the initial state
  if (first > 1) {
    // Retention pruned versions 1..first-1: the fold starts from the state kept at first-1.
    auto base = store.findSnapshotAtOrBefore(txn, entity, first - 1);
    if (!base || base->version != first - 1) {
      fail(ErrorKind::kPermanent, "entity " + name->entityType + "/" + name->key +
                                      ": history below version " + std::to_string(first) +
                                      " was pruned but no snapshot of version " +
                                      std::to_string(first - 1) + " is kept");
    }
    state = kj::heapArray<capnp::word>(
        kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(base->state.data()),
                                        base->state.size() / sizeof(capnp::word)));
  }
  for (std::uint64_t v = first; v <= head; ++v) {
    auto entry = store.findHistory(txn, entity, v);
    if (!entry) {
      fail(ErrorKind::kPermanent, "entity " + name->entityType + "/" + name->key +
                                      " is missing version " + std::to_string(v));
    }
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
    folded.entry = &*entry;
    folded.result = &result;
    folded.handler = handler;
    folded.stateBefore = state.asPtr();
    folded.digestMatches = result.emitted.digest == entry->outputDigest &&
                           result.emitted.messages.size() == entry->outputCount;
    visit(folded);
    state = kj::mv(result.state);
  }
}

}  // namespace idem::detail
