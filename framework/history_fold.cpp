// HistoryFold: a serial fold of the recorded inputs.
#include "framework/history_fold.h"

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
  Words state;  // empty = the initial state
  for (std::uint64_t v = 1; v <= head; ++v) {
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
                   recorded.payload(),
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
