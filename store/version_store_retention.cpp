// Retention: pruning old, published history and old applied entries in bounded steps inside the
// endpoint's own write transactions (no cleanup job). The rules are in docs/storage-format.md,
// "Retention"; the sweep positions are meta names:
//
//   "retention-entity"   -> decimal ASCII u64: the entity the history sweep looks at next
//   "retention-applied"  -> 32 hex digits: the applied key the applied sweep looks at next
//                           (absent: start from the first key)
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <charconv>
#include <vector>

#include "idem/envelope.capnp.h"
#include "store/records.capnp.h"
#include "store/version_store_impl.h"

namespace idem::store {

namespace {

constexpr std::string_view kEntitySweep = "retention-entity";
constexpr std::string_view kAppliedSweep = "retention-applied";

MessageId inputIdOf(std::span<const std::byte> envelope) {
  CanonicalReader reader(envelope, "recorded input envelope");
  const auto id = reader.root<wire::Envelope>().getId();
  return MessageId::fromBytes({id.begin(), id.size()}).value_or(MessageId{});
}

// What the sweep needs of a history record, read without the canonical check that findHistory
// makes (most records looked at are only asked their time; Cap'n Proto still bounds-checks).
struct RecordFacts {
  std::int64_t recordedAtNs = 0;
  std::uint32_t outputCount = 0;
  bool stateChanged = false;
  std::span<const std::byte> input;
};

// What one walk over an entity's oldest versions found.
struct EntityWalk {
  std::uint64_t first = 0;         // the entity's first retained version before this step
  std::uint64_t base = 0;          // prune history first..base; 0: nothing to prune
  std::uint64_t baseSnapshot = 0;  // the snapshot holding the state at `base`
  bool finished = false;  // the walk reached a version that must stay (false: out of budget)
};

}  // namespace

std::uint64_t VersionStore::firstRetainedVersion(Txn& txn, std::uint64_t entity) const {
  Cursor cursor(txn, impl_->history);
  if (!cursor.move(MDB_SET_RANGE, key16(entity, 0))) return 0;
  const Bytes k = cursor.key();
  if (k.size() != 16) impl_->damaged("history key is not 16 bytes");
  return getBe64(k.data()) == entity ? getBe64(k.data() + 8) : 0;
}

PruneCounts VersionStore::prune(Txn& txn, const PruneLimits& limits) {
  Impl& s = *impl_;
  s.requireWrite(txn, "prune");
  PruneCounts counts;
  const auto peek = [&](Bytes value, std::uint64_t entity, std::uint64_t version) {
    if (value.size() % 8 != 0) s.damaged("history value is not a whole number of words");
    const kj::ArrayPtr<const capnp::word> segments[1] = {s.readAligned(txn, value)};
    RecordFacts facts;
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&] {
                   capnp::SegmentArrayMessageReader reader(segments);
                   auto r = reader.getRoot<records::HistoryRecord>();
                   facts.recordedAtNs = r.getRecordedAtNs();
                   facts.outputCount = r.getOutputCount();
                   facts.stateChanged = r.getStateChanged();
                   const auto input = r.getInput();
                   facts.input = {reinterpret_cast<const std::byte*>(input.begin()), input.size()};
                 })) {
      s.damaged("history of entity " + std::to_string(entity) + " version " +
                std::to_string(version) + ": " + exception->getDescription().cStr());
    }
    return facts;
  };

  // --- history: whole entities in number order, from where the last step stopped ----------
  std::uint64_t entity = 0;
  if (auto text = findMeta(txn, kEntitySweep)) {
    std::from_chars(text->data(), text->data() + text->size(), entity);
  }
  std::size_t budget = limits.budget;
  std::size_t idle = 0;
  while (budget > 0 && idle < limits.idleEntities) {
    EntityWalk walk;
    {
      Cursor cursor(txn, s.history);
      if (!cursor.move(MDB_SET_RANGE, key16(entity, 0))) {
        entity = 0;  // past the last entity: the next step starts over
        break;
      }
      entity = getBe64(cursor.key().data());
      walk.first = getBe64(cursor.key().data() + 8);
      // The snapshot whose state equals the state at the version being looked at; 0: none.
      std::uint64_t snapshot = 0;
      if (walk.first > 1 && txn.get(s.snapshots, key16(entity, walk.first - 1))) {
        snapshot = walk.first - 1;
      }
      for (std::uint64_t version = walk.first;; ++version) {
        --budget;
        const RecordFacts entry = peek(cursor.value(), entity, version);
        const bool eligible =
            entry.recordedAtNs < limits.historyBeforeNs &&
            (entry.outputCount == 0 || !isUnpublished(txn, inputIdOf(entry.input)));
        // The head always keeps its entry (it is how the head is found).
        if (!eligible || !cursor.move(MDB_NEXT) || getBe64(cursor.key().data()) != entity) {
          walk.finished = true;
          break;
        }
        if (getBe64(cursor.key().data() + 8) != version + 1) {
          s.damaged("entity " + std::to_string(entity) + " has no version " +
                    std::to_string(version + 1) + " below its head");
        }
        if (txn.get(s.snapshots, key16(entity, version))) {
          snapshot = version;
        } else if (entry.stateChanged) {
          snapshot = 0;  // a state only a fold can give: no base here
        }
        if (snapshot != 0) {
          walk.base = version;
          walk.baseSnapshot = snapshot;
        }
        if (budget == 0) break;
      }
    }
    if (walk.base == 0) {
      ++idle;
    } else {
      if (walk.baseSnapshot != walk.base) {
        // Versions baseSnapshot+1..base left the state unchanged: the same bytes, at base.
        const std::optional<Bytes> bytes = txn.get(s.snapshots, key16(entity, walk.baseSnapshot));
        const std::vector<std::byte> copy(bytes->begin(), bytes->end());  // off the map: put
        if (!txn.put(s.snapshots, key16(entity, walk.base), copy, MDB_NOOVERWRITE)) {
          s.damaged("snapshot of entity " + std::to_string(entity) + " version " +
                    std::to_string(walk.base) + " appeared during pruning");
        }
      }
      for (std::uint64_t v = walk.first; v <= walk.base; ++v) {
        if (txn.del(s.history, key16(entity, v))) ++counts.versions;
      }
      for (std::uint64_t v = walk.first > 1 ? walk.first - 1 : 1; v < walk.base; ++v) {
        if (txn.del(s.snapshots, key16(entity, v))) ++counts.snapshots;
      }
    }
    if (!walk.finished) break;  // out of budget inside this entity: continue there next time
    ++entity;
  }
  putMeta(txn, kEntitySweep, std::to_string(entity));

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
          applied.version < firstRetainedVersion(txn, applied.entity)) {
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
