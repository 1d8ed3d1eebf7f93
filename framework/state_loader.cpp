// StateLoader: snapshot + fold. With a snapshot every version (the default) no handler runs.
#include "framework/state_loader.h"

#include <string>

#include "framework/handler_run.h"
#include "idem/error.h"

namespace idem::detail {

namespace {
kj::ArrayPtr<const capnp::word> wordsOf(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / sizeof(capnp::word)};
}
}  // namespace

LoadedState StateLoader::load(store::Txn& txn, std::uint64_t entity, std::uint64_t version) const {
  if (version == 0) return {};
  auto snapshot = store_.findSnapshotAtOrBefore(txn, entity, version);
  LoadedState state = snapshot ? LoadedState(wordsOf(snapshot->state)) : LoadedState();
  if (snapshot) state.snapshotVersion = snapshot->version;
  std::uint64_t from = snapshot ? snapshot->version + 1 : 1;
  if (from > version) return state;

  auto name = store_.findEntityName(txn, entity);
  if (!name) fail(ErrorKind::kBug, "entity " + std::to_string(entity) + " has no name");
  for (std::uint64_t v = from; v <= version; ++v) {
    auto entry = store_.findHistory(txn, entity, v);
    if (!entry) {
      const std::uint64_t first = store_.firstRetainedVersion(txn, entity);
      if (v < first) {
        fail(ErrorKind::kPermanent, "the state of " + name->entityType + "/" + name->key +
                                        " at version " + std::to_string(version) +
                                        " is gone: history below version " + std::to_string(first) +
                                        " was pruned (retention); the oldest loadable version is " +
                                        std::to_string(first - 1));
      }
      fail(ErrorKind::kBug, "entity " + name->entityType + "/" + name->key + " has no version " +
                                std::to_string(v) + " below its head");
    }
    if (!entry->stateChanged) continue;
    const std::uint64_t base = state.snapshotVersion;
    state = LoadedState(rerunRecorded(handlers_, *entry, *name, v, state.words()).state);
    state.snapshotVersion = base;
  }
  return state;
}

}  // namespace idem::detail
