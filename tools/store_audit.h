// StoreAudit: proves a store's history is what its handlers produce. Every entity's recorded
// inputs are folded through the handlers that recorded them (never from snapshots); every stored
// snapshot must equal the re-derived state byte for byte, every recorded output digest the digest
// of the re-derived outputs. Reads one entity per short read transaction (live stores are fine:
// each entity is audited as of one consistent moment).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/json_diff.h"
#include "tools/store_view.h"

namespace idem::tools {

struct Divergence {
  enum class Kind {
    kSnapshot,  // the stored snapshot differs from the re-derived state
    kOutputs,   // the re-derived outputs do not match the recorded count and digest
    kFold,      // the fold could not run: handler not registered, handler threw, bad bytes
  };
  Kind kind = Kind::kSnapshot;
  EntityRow entity;
  std::uint64_t version = 0;
  std::string handler;      // "id vN" as recorded
  std::string messageType;  // of the input
  std::string detail;       // one line, for people
  // kSnapshot: where the bytes part, their sizes, and the state diff (stored -> derived).
  std::optional<std::size_t> firstDifferingByte;
  std::size_t storedBytes = 0;
  std::size_t derivedBytes = 0;
  std::vector<JsonDifference> stateDiff;
  // kOutputs: recorded vs re-derived count and digest, and the re-derived outputs as JSON.
  std::uint32_t recordedCount = 0;
  std::uint32_t derivedCount = 0;
  std::string recordedDigest;
  std::string derivedDigest;
  nlohmann::json derivedOutputs;
};

const char* toString(Divergence::Kind kind);

struct AuditOptions {
  std::optional<std::uint64_t> onlyEntity;  // audit just this entity number
  std::size_t pageSize = 256;               // entities listed per read transaction
  // Called after each entity with (entities audited, entities in the store when it started).
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct AuditReport {
  std::uint64_t entities = 0;
  std::uint64_t versions = 0;
  std::uint64_t snapshotsChecked = 0;
  std::uint64_t digestsChecked = 0;
  // Entities whose history below some version was pruned (retention): audited from the snapshot
  // kept there, which is trusted, not re-derived.
  std::uint64_t prunedEntities = 0;
  std::vector<Divergence> divergences;
  bool clean() const { return divergences.empty(); }
};

// Audits every entity of `view` (or options.onlyEntity). Divergences are values; throws
// idem::Error only when the store itself cannot be read.
AuditReport auditStore(const StoreView& view, const AuditOptions& options = {});

// One divergence as lines for a terminal, and as JSON.
std::string formatDivergence(const Divergence& divergence);
nlohmann::json divergenceJson(const Divergence& divergence);
nlohmann::json auditJson(const StoreView& view, const AuditReport& report);

}  // namespace idem::tools
