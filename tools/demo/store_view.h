// StoreView: the demo's read-only look into one endpoint's version store, from the demo's own
// process while the endpoint's processes run (LMDB is multi-process) or after they stopped:
// current states of entities, applied inputs, history entries.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "framework/state_loader.h"
#include "idem/canonical.h"
#include "idem/handlers.h"
#include "idem/message_id.h"
#include "store/version_store.h"

namespace idem::tools::demo {

class StoreView {
 public:
  // Opens (creating when absent) the store of `handlers`' endpoint in `dir`. One StoreView per
  // process per directory. Throws idem::Error as VersionStore does.
  StoreView(const std::filesystem::path& dir, Handlers handlers);

  std::uint64_t entityCount() const { return store_.stats().entities; }
  bool applied(const MessageId& input) const;

  // Calls `visit(key, state)` for every entity of `entityType` that has a version, with its
  // latest state, in creation order, after entity number `after`; returns the last number seen.
  template <typename T>
  std::uint64_t forEach(
      std::string_view entityType,
      const std::function<void(const std::string& key, typename T::Reader)>& visit,
      std::uint64_t after = 0) const {
    return forEachState(entityType, after, [&](const std::string& key, CanonicalReader& state) {
      visit(key, state.root<T>());
    });
  }

  // Calls `visit(version, entry)` for versions 1..head of the entity `entityType`/`key`.
  void forEachVersion(
      std::string_view entityType, std::string_view key,
      const std::function<void(std::uint64_t, const store::HistoryEntry&)>& visit) const;

 private:
  std::uint64_t forEachState(
      std::string_view entityType, std::uint64_t after,
      const std::function<void(const std::string& key, CanonicalReader& state)>& visit) const;

  Handlers handlers_;
  store::VersionStore store_;
  detail::StateLoader loader_;
};

}  // namespace idem::tools::demo
