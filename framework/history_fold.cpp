// HistoryFold: a serial fold of the recorded inputs.
#include "framework/history_fold.h"

#include <string>

#include "idem/error.h"

namespace idem::detail {

void foldHistory(const store::VersionStore& store, store::Txn& txn, const Handlers& handlers,
                 std::uint64_t entity, const std::function<void(const FoldedVersion&)>& visit) {
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
    RunResult result = rerunRecorded(handlers, *entry, *name, v, state.asPtr());
    FoldedVersion folded;
    folded.version = v;
    folded.entry = &*entry;
    folded.result = &result;
    folded.stateBefore = state.asPtr();
    folded.digestMatches = result.emitted.digest == entry->outputDigest &&
                           result.emitted.messages.size() == entry->outputCount;
    visit(folded);
    state = kj::mv(result.state);
  }
}

}  // namespace idem::detail
