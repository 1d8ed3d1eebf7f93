// Retention: removing old, published records from the front of the log and old applied entries,
// in bounded steps inside the endpoint's own write transactions (no cleanup job). The rules are
// in docs/storage-format.md, "Retention"; the positions are meta names:
//
//   "log-pruned-through" -> decimal ASCII u64: every log record at or below it is removed
//   "retention-applied"  -> 32 hex digits: the applied key the applied sweep looks at next
//                           (absent: start from the first key)
#include <charconv>
#include <vector>

#include "store/version_store_impl.h"

namespace idem::store {

namespace {

constexpr std::string_view kAppliedSweep = "retention-applied";

}  // namespace

PruneCounts VersionStore::prune(Txn& txn, const PruneLimits& limits, const StateAfter& stateAfter) {
  Impl& s = *impl_;
  s.requireWrite(txn, "prune");
  PruneCounts counts;

  // --- the log, from its front, in sequence (= commit) order ------------------------------
  const std::uint64_t before = s.prunedThrough(txn);
  std::uint64_t through = before;
  std::vector<std::uint64_t> removed;
  for (std::size_t examined = 0; examined < limits.budget; ++examined) {
    std::optional<LogRecord> record;
    {
      Cursor cursor(txn, s.log);
      if (!cursor.move(MDB_FIRST)) break;
      record = s.decodeRecord(txn, cursor.value(), getBe64(cursor.key().data()));
    }
    const HistoryEntry& entry = record->entry;
    // Younger records follow (the log is in commit order, give or take the clocks of the
    // processes sharing the store): the first young one ends the step. So does one whose outputs
    // are still owed; the owed-output sweep of its endpoint settles it.
    if (entry.recordedAtNs >= limits.historyBeforeNs) break;
    if (entry.outputCount > 0 && isUnpublished(txn, record->seq)) break;

    const std::optional<Head> head = findHead(txn, record->entity);
    if (!head)
      s.damaged("log record " + std::to_string(record->seq) + " of an entity without head");
    if (head->seq == record->seq) {
      // The entity's last record: its state is the head's; no base below it is needed now.
      txn.del(s.bases, key8(record->entity));
    } else {
      // Later records of the entity need the state at this version: it becomes the base.
      const std::optional<Snapshot> base = findBase(txn, record->entity);
      const bool baseBelow = record->version == 1 || (base && base->version + 1 == record->version);
      if (!baseBelow) {
        s.damaged("entity " + std::to_string(record->entity) + " has no base below version " +
                  std::to_string(record->version) + ", its oldest record");
      }
      std::optional<std::vector<std::byte>> after;
      if (record->state) {
        after.emplace(record->state->begin(), record->state->end());
      } else if (!entry.stateChanged) {
        after.emplace(base->state.begin(), base->state.end());
      } else if (stateAfter) {
        const std::span<const std::byte> stateBefore =
            record->version == 1 ? std::span<const std::byte>() : base->state;
        after = stateAfter(txn, *record, stateBefore);
      }
      if (!after) break;  // its state needs a fold that cannot run now: the front stays
      s.putBase(txn, record->entity, record->version, *after);
      ++counts.bases;
    }
    if (!txn.del(s.log, key8(record->seq))) s.damaged("log record vanished while pruning");
    through = record->seq;
    ++counts.versions;
  }
  if (through != before) {
    putMeta(txn, "log-pruned-through", std::to_string(through));
    if (s.pending.nextSeq != 0) s.pending.prunedThrough = through;  // appends may follow
  }

  // --- applied index: key order, wrapping around ------------------------------------------
  std::vector<Key16> expired;
  std::optional<MessageId> next;  // where the next step starts; nullopt: at the first key
  {
    Cursor cursor(txn, s.applied);
    const std::optional<std::string> at = findMeta(txn, kAppliedSweep);
    const std::optional<MessageId> from = at ? MessageId::fromHex(*at) : std::nullopt;
    bool more = from ? cursor.move(MDB_SET_RANGE, idBytes(*from)) : cursor.move(MDB_FIRST);
    for (std::size_t examined = 0; more && examined < limits.budget; ++examined) {
      const Bytes key = cursor.key();
      if (key.size() != 16) s.damaged("applied key is not 16 bytes");
      MessageId id;
      std::memcpy(id.bytes.data(), key.data(), 16);
      const Applied applied = s.decodeApplied(cursor.value(), id);
      if (applied.appliedAtNs && *applied.appliedAtNs < limits.appliedBeforeNs &&
          applied.seq <= through) {
        Key16& k = expired.emplace_back();
        std::memcpy(k.data(), key.data(), 16);
      }
      more = cursor.move(MDB_NEXT);
    }
    if (more) {
      next.emplace();
      std::memcpy(next->bytes.data(), cursor.key().data(), 16);
    }
  }
  for (const Key16& k : expired) {
    if (txn.del(s.applied, k)) ++counts.applied;
  }
  if (next) {
    putMeta(txn, kAppliedSweep, next->toHex());
  } else {
    txn.del(s.meta, asBytes(kAppliedSweep));
  }
  return counts;
}

}  // namespace idem::store
