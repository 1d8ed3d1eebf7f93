// HistoryFold: re-derives every version of an entity from its recorded inputs alone (never from
// stored states, except the base retention keeps below the oldest retained version), running the
// handler that recorded each one. The ground truth for audits and for
// the test oracles (DESIGN.md §4, O3 and O7).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "framework/handler_run.h"
#include "idem/handlers.h"
#include "store/version_store.h"

namespace idem::detail {

struct FoldedVersion {
  std::uint64_t version = 0;
  const store::HistoryEntry* entry = nullptr;  // as recorded
  const RunResult* result = nullptr;           // as re-derived: the state after, the outputs
  const RegisteredHandler* handler = nullptr;  // the handler that re-derived it
  kj::ArrayPtr<const capnp::word> stateBefore;
  bool digestMatches = false;  // re-derived outputs hash to the recorded digest
  // The state after this version as stored (in its log record, or the head's), if it is.
  std::optional<std::span<const std::byte>> storedState;
};

// Calls `visit` for versions 1..head of `entity`, in order; when retention pruned the history
// below version N (VersionStore::firstRetainedVersion), for versions N..head, starting from the
// base kept at N-1 (which is then trusted, not re-derived); none when every record was pruned.
// Throws idem::Error (permanent) when a version's handler is no longer registered; handler
// exceptions propagate.
void foldHistory(const store::VersionStore& store, store::Txn& txn, const Handlers& handlers,
                 std::uint64_t entity, const std::function<void(const FoldedVersion&)>& visit);

// Picks the handler that re-runs a recorded entry whose input has `messageType`; nullptr: none.
using HandlerChoice = std::function<const RegisteredHandler*(const store::HistoryEntry& entry,
                                                             std::uint64_t messageType)>;
// The same fold with each version's handler picked by `choose` instead of by the recorded id and
// version: for what-if replays of other handler code (e.g. by message type). `handlers` names the
// endpoint (output ids). Throws idem::Error (permanent) when `choose` returns nullptr.
void foldHistory(const store::VersionStore& store, store::Txn& txn, const Handlers& handlers,
                 std::uint64_t entity, const HandlerChoice& choose,
                 const std::function<void(const FoldedVersion&)>& visit);

}  // namespace idem::detail
