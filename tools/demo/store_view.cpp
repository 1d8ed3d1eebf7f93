// StoreView: every read is one snapshot transaction; states come from StateLoader.
#include "tools/demo/store_view.h"

namespace idem::tools::demo {

StoreView::StoreView(const std::filesystem::path& dir, Handlers handlers)
    : handlers_(std::move(handlers)),
      store_(dir, handlers_.endpointName()),
      loader_(store_, handlers_) {}

bool StoreView::applied(const MessageId& input) const {
  bool found = false;
  store_.read([&](store::Txn& txn) { found = store_.findApplied(txn, input).has_value(); });
  return found;
}

std::uint64_t StoreView::forEachState(
    std::string_view entityType, std::uint64_t after,
    const std::function<void(const std::string& key, CanonicalReader& state)>& visit) const {
  std::uint64_t last = after;
  store_.read([&](store::Txn& txn) {
    store_.forEachEntity(txn, after, [&](std::uint64_t entity, const store::EntityName& name) {
      const std::uint64_t head = store_.headVersion(txn, entity);
      if (head == 0) return true;  // not committed yet: seen next time
      last = entity;
      if (name.entityType != entityType) return true;
      detail::LoadedState state = loader_.load(txn, entity, head);
      CanonicalReader reader(asBytes(state.words()), "state");
      visit(name.key, reader);
      return true;
    });
  });
  return last;
}

void StoreView::forEachVersion(
    std::string_view entityType, std::string_view key,
    const std::function<void(std::uint64_t, const store::HistoryEntry&)>& visit) const {
  store_.read([&](store::Txn& txn) {
    auto entity = store_.findEntity(txn, entityType, key);
    if (!entity) return;
    for (const std::uint64_t seq : store_.retainedRecords(txn, *entity)) {
      if (auto record = store_.findRecord(txn, seq)) visit(record->version, record->entry);
    }
  });
}

}  // namespace idem::tools::demo
