// StateLoader: a walk back over an entity's records, then a fold forward. With a state kept in
// every record (snapshotEvery = 1, the default) no handler runs.
#include "framework/state_loader.h"

#include <string>
#include <vector>

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
  const std::optional<store::Head> head = store_.findHead(txn, entity);
  if (!head) {
    fail(ErrorKind::kBug, "entity " + std::to_string(entity) + " has no version " +
                              std::to_string(version) + " (no head)");
  }
  if (version >= head->version) {
    LoadedState state(wordsOf(head->state));
    state.snapshotVersion = head->version;
    return state;
  }
  return walkBack(txn, entity, version, head->seq);
}

LoadedState StateLoader::loadBefore(store::Txn& txn, const store::Applied& applied) const {
  if (applied.version <= 1) return {};
  const std::optional<store::LogRecord> record = store_.findRecord(txn, applied.seq);
  if (!record) {
    fail(ErrorKind::kBug, "the log record " + std::to_string(applied.seq) + " of entity " +
                              std::to_string(applied.entity) + " version " +
                              std::to_string(applied.version) + " is gone");
  }
  return walkBack(txn, applied.entity, applied.version - 1, record->prevSeq);
}

LoadedState StateLoader::walkBack(store::Txn& txn, std::uint64_t entity, std::uint64_t version,
                                  std::uint64_t seq) const {
  const auto name = store_.findEntityName(txn, entity);
  if (!name) fail(ErrorKind::kBug, "entity " + std::to_string(entity) + " has no name");
  const std::uint64_t through = store_.prunedThrough(txn);
  std::vector<store::LogRecord> later;  // records at or below `version`, newest first
  LoadedState state;                    // the initial state unless a stored one is found
  while (seq != 0) {
    if (seq <= through) {
      const std::optional<store::Snapshot> base = store_.findBase(txn, entity);
      const std::uint64_t wanted = later.empty() ? version : later.back().version - 1;
      if (!base || base->version != wanted) {
        const std::uint64_t first = store_.firstRetainedVersion(txn, entity);
        fail(ErrorKind::kPermanent, "the state of " + name->entityType + "/" + name->key +
                                        " at version " + std::to_string(version) +
                                        " is gone: history below version " + std::to_string(first) +
                                        " was pruned (retention); the oldest loadable version is " +
                                        std::to_string(first - 1));
      }
      state = LoadedState(wordsOf(base->state));
      state.snapshotVersion = base->version;
      break;
    }
    std::optional<store::LogRecord> record = store_.findRecord(txn, seq);
    if (!record || record->entity != entity) {
      fail(ErrorKind::kBug, "entity " + name->entityType + "/" + name->key + " has no log record " +
                                std::to_string(seq) + " below its head");
    }
    seq = record->prevSeq;
    if (record->version > version) continue;
    if (record->state) {
      state = LoadedState(wordsOf(*record->state));
      state.snapshotVersion = record->version;
      break;
    }
    later.push_back(std::move(*record));
  }
  for (auto r = later.rbegin(); r != later.rend(); ++r) {
    if (!r->entry.stateChanged) continue;
    const std::uint64_t base = state.snapshotVersion;
    state = LoadedState(rerunRecorded(handlers_, r->entry, *name, r->version, state.words()).state);
    state.snapshotVersion = base;
  }
  return state;
}

}  // namespace idem::detail
