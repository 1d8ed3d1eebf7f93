// StateLoader: an entity's state at any version: the head's state, or the entity's log records
// followed back from a known one to the nearest that carries its state (or the entity's base),
// then the records in between that changed the state folded through the handlers that recorded
// them.
#pragma once

#include <cstdint>

#include "idem/canonical.h"
#include "idem/handlers.h"
#include "store/version_store.h"

namespace idem::detail {

// A state's canonical bytes: either in the store's map (valid until the transaction ends) or
// owned. Empty = the entity's initial state (before version 1).
class LoadedState {
 public:
  LoadedState() = default;
  explicit LoadedState(kj::ArrayPtr<const capnp::word> inMap) : words_(inMap) {}
  explicit LoadedState(Words owned) : owned_(kj::mv(owned)), words_(owned_.asPtr()) {}
  LoadedState(LoadedState&& other) noexcept
      : snapshotVersion(other.snapshotVersion),
        owned_(kj::mv(other.owned_)),
        words_(other.words_) {}
  LoadedState& operator=(LoadedState&& other) noexcept {
    snapshotVersion = other.snapshotVersion;
    owned_ = kj::mv(other.owned_);
    words_ = other.words_;
    return *this;
  }

  kj::ArrayPtr<const capnp::word> words() const { return words_; }
  // The version of the stored state it was loaded from (0: none, the initial state).
  std::uint64_t snapshotVersion = 0;

 private:
  Words owned_;
  kj::ArrayPtr<const capnp::word> words_;
};

class StateLoader {
 public:
  // Both must outlive the loader.
  StateLoader(const store::VersionStore& store, const Handlers& handlers)
      : store_(store), handlers_(handlers) {}

  // The state of `entity` at `version` (0 = initial). The head's state is stored with it, so
  // loading it runs no handler; older versions follow the entity's records back from the head
  // and may fold through the handlers that recorded them. Throws idem::Error (permanent) when a
  // record to fold was recorded by a handler version that is not registered (not even for
  // replay), or when retention pruned the history below `version` + 1 (versions from
  // firstRetainedVersion() - 1 on stay loadable). Exceptions of the handlers it re-runs
  // propagate.
  LoadedState load(store::Txn& txn, std::uint64_t entity, std::uint64_t version) const;
  // The state the input of `applied` saw (its version - 1), found from its own log record: as
  // many lookups as records since the nearest stored state, however deep the entity's history.
  // Same errors as load(); kBug when that record is gone.
  LoadedState loadBefore(store::Txn& txn, const store::Applied& applied) const;

 private:
  // The state at `version`, walking back from the record `seq`, whose version is above it.
  LoadedState walkBack(store::Txn& txn, std::uint64_t entity, std::uint64_t version,
                       std::uint64_t seq) const;

  const store::VersionStore& store_;
  const Handlers& handlers_;
};

}  // namespace idem::detail
