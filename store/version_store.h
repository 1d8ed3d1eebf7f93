// VersionStore: one endpoint's entities as immutable numbered versions in LMDB, with the input
// that produced each version (the event log), state snapshots and the applied-input index.
// The byte layout is specified in docs/storage-format.md and at the top of version_store.cpp.
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

#include "idem/message_id.h"

namespace idem::store {

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

// Where an input was applied: the entity and the version it produced.
struct Applied {
  std::uint64_t entity = 0;
  std::uint64_t version = 0;
  // When this endpoint applied it (its history entry's recordedAtNs); unknown for entries written
  // before the store recorded it (those are never pruned).
  std::optional<std::int64_t> appliedAtNs;
};

// What one pruning step may remove (docs/storage-format.md, "Retention").
struct PruneLimits {
  // Versions recorded (HistoryEntry::recordedAtNs) before this may be pruned.
  std::int64_t historyBeforeNs = 0;
  // Applied entries recorded before this may be removed, once their version's history is pruned.
  std::int64_t appliedBeforeNs = 0;
  // Records each of the two sweeps (history, applied index) examines per call: the bound on the
  // work pruning adds to one write transaction.
  std::size_t budget = 512;
  // Entities the history sweep may look at per call without pruning anything. Each costs a read
  // of the entity's oldest record, the coldest page it has: a small cap keeps a sweep over a
  // store with nothing to prune (e.g. the first batch after a restart) from reading hundreds of
  // cold pages.
  std::size_t idleEntities = 8;
};

struct PruneCounts {
  std::uint64_t versions = 0;   // history entries removed
  std::uint64_t snapshots = 0;  // snapshots removed
  std::uint64_t applied = 0;    // applied-index entries removed
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

// A stored state snapshot. `state` is word-aligned canonical bytes in the map, valid until the
// transaction ends.
struct Snapshot {
  std::uint64_t version = 0;
  std::span<const std::byte> state;
};

struct EntityName {
  std::string entityType;
  std::string key;
};

class Txn;  // a read or write transaction; only the store can create one

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
  std::optional<HistoryEntry> findHistory(Txn& txn, std::uint64_t entity,
                                          std::uint64_t version) const;
  // The snapshot with the highest version <= `version`, if any.
  std::optional<Snapshot> findSnapshotAtOrBefore(Txn& txn, std::uint64_t entity,
                                                 std::uint64_t version) const;
  // Writes version `version` (must be head + 1) of `entity`: its history entry, the applied
  // index entry for `inputId`, and `state` as a snapshot when given. Write transactions only.
  // Throws idem::Error (bug) when `version` is not head + 1 or `inputId` is already applied.
  void append(Txn& txn, std::uint64_t entity, std::uint64_t version, const MessageId& inputId,
              const HistoryEntry& entry, std::optional<std::span<const std::byte>> state);
  // Removes the snapshot of `entity` at `version`, if any (the pipeline keeps the head's state as
  // a snapshot and drops it when the head moves on, unless the snapshot policy keeps it). Write
  // transactions only.
  void dropSnapshot(Txn& txn, std::uint64_t entity, std::uint64_t version);
  // The oldest version of `entity` whose history entry is kept: 1 when nothing was pruned, N when
  // versions 1..N-1 were pruned (the state at N-1 is then kept as a snapshot, so every version
  // from N-1 on stays loadable); 0 when the entity has no versions.
  std::uint64_t firstRetainedVersion(Txn& txn, std::uint64_t entity) const;

  // Retention: one bounded step of each of two sweeps whose positions are kept in meta. Removes
  // the history entries and snapshots of an entity's versions below a base version B when every
  // version below B was recorded before limits.historyBeforeNs and is not in the publication set,
  // B is not the head, and the state at B-1 is (or can be copied as) a snapshot; and removes
  // applied entries recorded before limits.appliedBeforeNs whose version's history is pruned.
  // Write transactions only. Throws idem::Error (permanent) on damaged records.
  PruneCounts prune(Txn& txn, const PruneLimits& limits);

  // Calls `visit` for each entity in number order, starting after `after`, until it returns false.
  void forEachEntity(
      Txn& txn, std::uint64_t after,
      const std::function<bool(std::uint64_t entity, const EntityName&)>& visit) const;

  // The publication set: inputs whose outputs are committed but not yet confirmed by the
  // transport. An input is marked in the transaction that appends its version (when it has
  // outputs) and unmarked once the transport confirmed them. A duplicate of an unmarked input
  // can be acked without replay; losing an unmarking only costs a re-emission.
  void markUnpublished(Txn& txn, const MessageId& input);
  bool isUnpublished(Txn& txn, const MessageId& input) const;
  // Idempotent: unmarking an input that is not marked does nothing.
  void markPublished(Txn& txn, const MessageId& input);
  // Calls `visit` for each input in the publication set in id order, starting after `after`
  // (nullopt: from the first), until it returns false.
  void forEachUnpublished(Txn& txn, const std::optional<MessageId>& after,
                          const std::function<bool(const MessageId& input)>& visit) const;

  std::optional<std::string> findMeta(Txn& txn, std::string_view name) const;
  void putMeta(Txn& txn, std::string_view name, std::string_view value);

  struct Stats {
    std::size_t mapBytes = 0;
    std::size_t usedBytes = 0;
    std::uint64_t entities = 0;
    std::uint64_t historyEntries = 0;
    std::uint64_t snapshots = 0;
    std::uint64_t applied = 0;
    std::uint64_t unpublished = 0;
  };
  Stats stats() const;

 private:
  void openReadOnly();  // the constructor's read-only path: opens the existing databases

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::store
