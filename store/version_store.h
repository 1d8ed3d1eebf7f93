// VersionStore: one endpoint's entities as immutable numbered versions in LMDB (format 2): a
// time-ordered log of every committed version (the input that produced it, and its state when
// the snapshot policy keeps one), each entity's head (version and current state), and the
// applied-input index. The byte layout is specified in docs/storage-format.md and at the top of
// version_store.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "idem/message_id.h"

namespace idem::store {

class Txn;  // a read or write transaction; only the store can create one
struct LmdbCounters;

// The format this code reads and writes (meta "format", idem-store.json).
inline constexpr std::string_view kVersionStoreFormat = "idem.version-store/2";

struct StoreOptions {
  std::size_t initialMapBytes = std::size_t{64} << 20;  // the file is sparse; grows on demand
  std::size_t maxMapBytes = std::size_t{1} << 40;       // MDB_MAP_FULL beyond this is an error
  unsigned maxReaders = 126;
  bool durable = true;  // false: commits are not fsynced (benchmarks and tests only)
  // Opens an existing store for reading only (MDB_RDONLY): write() throws, nothing is created,
  // the file never grows and no write access to data.mdb is needed (lock.mdb is still used for
  // the reader table, except on a read-only filesystem). For tools reading a live store.
  bool readOnly = false;
};

// Where an input was applied: the entity and the version it produced, and the log record that
// holds that version.
struct Applied {
  std::uint64_t entity = 0;
  std::uint64_t version = 0;
  std::uint64_t seq = 0;  // the version's log record; at most prunedThrough() once pruned
  // When this endpoint applied it (its record's recordedAtNs).
  std::optional<std::int64_t> appliedAtNs;
};

// What one pruning step may remove (docs/storage-format.md, "Retention").
struct PruneLimits {
  // Versions recorded (HistoryEntry::recordedAtNs) before this may be pruned.
  std::int64_t historyBeforeNs = 0;
  // Applied entries recorded before this may be removed, once their version's history is pruned.
  std::int64_t appliedBeforeNs = 0;
  // Records each of the two sweeps (log front, applied index) examines per call: the bound on
  // the work pruning adds to one write transaction.
  std::size_t budget = 512;
};

struct PruneCounts {
  std::uint64_t versions = 0;  // log records removed
  std::uint64_t bases = 0;     // states written as an entity's base (the state below its history)
  std::uint64_t applied = 0;   // applied-index entries removed
};

// What produced one version of an entity. Spans point into the store's memory map and are
// valid until the transaction that returned them ends.
struct HistoryEntry {
  std::string_view handlerId;
  std::uint32_t handlerVersion = 0;
  std::int64_t recordedAtNs = 0;  // this endpoint's clock when it first processed the input
  std::uint32_t outputCount = 0;
  std::array<std::uint8_t, 32> outputDigest{};
  bool stateChanged = false;         // false: the state equals the previous version's
  std::span<const std::byte> input;  // canonical input envelope bytes
};

// A stored state: in a log record, an entity's head or its base. `state` is word-aligned
// canonical bytes in the map, valid until the transaction ends.
struct Snapshot {
  std::uint64_t version = 0;
  std::span<const std::byte> state;
};

// One log record: version `version` of `entity`, the `seq`-th record of the store. Spans point
// into the map (valid until the transaction ends).
struct LogRecord {
  std::uint64_t seq = 0;
  std::uint64_t entity = 0;
  std::uint64_t version = 0;
  std::uint64_t prevSeq = 0;  // the entity's record before this one; 0 for version 1
  HistoryEntry entry;
  std::optional<std::span<const std::byte>> state;  // the state after it, when kept inline
};

// An entity's head: its latest version, the log record that produced it (which retention may
// have removed since: seq <= prunedThrough()) and its current state.
struct Head {
  std::uint64_t version = 0;
  std::uint64_t seq = 0;
  std::span<const std::byte> state;
};

// Computes the state after `record` from the state before it (a fold step), for retention when
// it removes a record whose state is not kept inline. nullopt: not now (the step stops there).
using StateAfter = std::function<std::optional<std::vector<std::byte>>(
    Txn& txn, const LogRecord& record, std::span<const std::byte> before)>;

struct EntityName {
  std::string entityType;
  std::string key;
};

// Thread safety: one VersionStore per process per directory; any number of threads may read;
// write() is serialised by LMDB (across processes too). Transactions never cross threads while
// open. The map is grown only inside write(), with no transaction of this process open.
class VersionStore {
 public:
  // Opens the store in directory `dir` (created when absent) for endpoint `endpointName`.
  // Clears stale reader slots left by dead processes. Throws idem::Error (permanent), naming the
  // file, when it is not an LMDB file, not an idem version store of this format, belongs to
  // another endpoint, is truncated, or when the marker says a store existed but its data file is
  // missing or empty.
  // With options.readOnly, the store must exist, and an empty `endpointName` accepts the store's
  // own endpoint (endpointName() then tells which).
  VersionStore(std::filesystem::path dir, std::string endpointName, StoreOptions options = {});
  ~VersionStore();
  VersionStore(const VersionStore&) = delete;
  VersionStore& operator=(const VersionStore&) = delete;

  const std::filesystem::path& directory() const;
  // What this object's write transactions cost so far (LmdbCounters: commits, syncs, pages).
  // Thread-safe.
  LmdbCounters counters() const noexcept;
  // The endpoint the store belongs to (meta "endpoint").
  const std::string& endpointName() const;

  // Runs `body` in one write transaction, then commits durably. If the map fills up, the
  // transaction is aborted, the map grown and `body` run again from the start, so `body` must
  // reset whatever it computes outside the transaction. An exception from `body` aborts.
  // Throws idem::Error: overloaded on disk full or map at maxMapBytes; bug on other LMDB errors
  // and when the store was opened read-only. EIO or a failed commit fsync also poisons the store:
  // every later call throws bug until the process reopens it (LmdbEnv::write()).
  void write(const std::function<void(Txn&)>& body);
  // Runs `body` in a read-only snapshot transaction.
  void read(const std::function<void(Txn&)>& body) const;

  // --- inside a transaction ---------------------------------------------------------------
  std::optional<Applied> findApplied(Txn& txn, const MessageId& input) const;
  std::optional<std::uint64_t> findEntity(Txn& txn, std::string_view entityType,
                                          std::string_view key) const;
  // Assigns the next entity number (1, 2, ...) to a new entity. Write transactions only.
  // Throws idem::Error (permanent) when type + key exceed the key limit (400 bytes).
  std::uint64_t createEntity(Txn& txn, std::string_view entityType, std::string_view key);
  std::optional<EntityName> findEntityName(Txn& txn, std::uint64_t entity) const;
  // The latest version of `entity`; 0 when it has none.
  std::uint64_t headVersion(Txn& txn, std::uint64_t entity) const;
  // The head of `entity` (one lookup): version, record and current state; nullopt: no versions.
  std::optional<Head> findHead(Txn& txn, std::uint64_t entity) const;
  // The log record `seq`; nullopt when there is none (never written, or pruned).
  std::optional<LogRecord> findRecord(Txn& txn, std::uint64_t seq) const;
  // The record of version `version` of `entity`, found by following the entity's records back
  // from its head (one lookup per version between); nullopt when pruned or absent.
  std::optional<LogRecord> findVersion(Txn& txn, std::uint64_t entity, std::uint64_t version) const;
  std::optional<HistoryEntry> findHistory(Txn& txn, std::uint64_t entity,
                                          std::uint64_t version) const;
  // The sequence numbers of the retained records of `entity`, oldest first.
  std::vector<std::uint64_t> retainedRecords(Txn& txn, std::uint64_t entity) const;
  // The entity's base: the state at firstRetainedVersion() - 1, kept when retention removed the
  // records below it and the head is above it; nullopt otherwise.
  std::optional<Snapshot> findBase(Txn& txn, std::uint64_t entity) const;
  // The stored state with the highest version <= `version`, if any: the head's state when
  // `version` >= head, else the nearest older record carrying its state inline, or the base.
  // nullopt: none (the state is the initial one folded forward, or pruned).
  std::optional<Snapshot> findSnapshotAtOrBefore(Txn& txn, std::uint64_t entity,
                                                 std::uint64_t version) const;
  // Writes version `version` (must be head + 1) of `entity`: its log record (appended at the
  // next sequence number), the applied index entry for `inputId`, and the head. `state` is the
  // new state, required when entry.stateChanged (nullopt: unchanged, the head keeps its bytes);
  // `stateInLog` also keeps it in the log record (the snapshot policy). Returns the record's
  // sequence number. Write transactions only. Throws idem::Error (bug) when `version` is not
  // head + 1, `inputId` is already applied, or a changed state is missing.
  std::uint64_t append(Txn& txn, std::uint64_t entity, std::uint64_t version,
                       const MessageId& inputId, const HistoryEntry& entry,
                       std::optional<std::span<const std::byte>> state, bool stateInLog = true);
  // The oldest version of `entity` whose log record is kept: 1 when nothing was pruned, N when
  // versions 1..N-1 were pruned (the state at N-1 is then the base, or the head's when N-1 is
  // the head, so every version from N-1 on stays loadable); head + 1 when every record of the
  // entity was pruned; 0 when the entity has no versions.
  std::uint64_t firstRetainedVersion(Txn& txn, std::uint64_t entity) const;
  // The highest sequence number retention removed (every record at or below it is gone); 0
  // when nothing was pruned.
  std::uint64_t prunedThrough(Txn& txn) const;

  // Retention: one bounded step from the front of the log (docs/storage-format.md,
  // "Retention"). Removes records in sequence order while each was recorded before
  // limits.historyBeforeNs and its input is not in the publication set, keeping the state at
  // each removed record's version as its entity's base when later records of the entity need it
  // (`stateAfter` computes it for a record without an inline state; without it, or when it
  // returns nullopt, the step stops there); then removes applied entries recorded before
  // limits.appliedBeforeNs whose record was removed. Write transactions only. Throws
  // idem::Error (permanent) on damaged records.
  PruneCounts prune(Txn& txn, const PruneLimits& limits, const StateAfter& stateAfter = {});

  // Calls `visit` for each entity in number order, starting after `after`, until it returns false.
  void forEachEntity(
      Txn& txn, std::uint64_t after,
      const std::function<bool(std::uint64_t entity, const EntityName&)>& visit) const;

  // The publication set: the log records whose outputs are committed but not yet confirmed by
  // the transport, kept as ranges of seqs. Every write transaction whose appends have outputs
  // adds one range, from its first such record to its last (records between them without outputs
  // are in it too: harmless, a duplicate of one replays to nothing); confirmations remove ranges.
  // A duplicate of a record outside the set can be acked without replay; losing a confirmation
  // only costs a re-emission; the insertion commits with the records.
  bool isUnpublished(Txn& txn, std::uint64_t seq) const;
  // Removes seqs first..last from the set (idempotent). Write transactions only.
  void markPublished(Txn& txn, std::uint64_t first, std::uint64_t last);
  // Calls `visit` for each seq in the set above `after`, ascending, until it returns false.
  void forEachUnpublished(Txn& txn, std::uint64_t after,
                          const std::function<bool(std::uint64_t seq)>& visit) const;
  // The same, by input (the record its applied entry names; an unknown input is never in it):
  // for tests and tools.
  bool isUnpublished(Txn& txn, const MessageId& input) const;
  void markPublished(Txn& txn, const MessageId& input);
  void markUnpublished(Txn& txn, const MessageId& input);

  std::optional<std::string> findMeta(Txn& txn, std::string_view name) const;
  void putMeta(Txn& txn, std::string_view name, std::string_view value);

  struct Stats {
    std::size_t mapBytes = 0;
    std::size_t usedBytes = 0;
    std::uint64_t entities = 0;
    std::uint64_t historyEntries = 0;  // log records
    std::uint64_t heads = 0;           // entities with a version
    std::uint64_t bases = 0;
    std::uint64_t applied = 0;
    std::uint64_t unpublished = 0;  // seqs in the publication set
  };
  Stats stats() const;

 private:
  void openReadOnly();  // the constructor's read-only path: opens the existing databases

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::store
