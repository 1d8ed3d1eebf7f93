// RecordedRequests: applied index -> log record -> recorded run, as a duplicate is handled.
#include "http/recorded_request.h"

#include <spdlog/spdlog.h>

#include "framework/handler_run.h"
#include "framework/state_loader.h"
#include "idem/error.h"
#include "tools/store_view.h"

namespace idem::http {

RecordedRequests::RecordedRequests(std::filesystem::path storeDirectory, const tools::App& app,
                                   std::string endpoint)
    : directory_(std::move(storeDirectory)), app_(app), endpoint_(std::move(endpoint)) {}

RecordedRequests::~RecordedRequests() = default;

std::optional<RecordedRequest> RecordedRequests::find(const MessageId& id,
                                                      std::string_view replyQueue) {
  if (!view_) {
    if (!std::filesystem::exists(directory_ / "data.mdb")) return std::nullopt;
    try {
      view_ = std::make_unique<tools::StoreView>(directory_, app_, endpoint_);
    } catch (const Error& e) {
      // An endpoint creating its store right now: "not applied" is the safe answer (the caller
      // sends the id, which the endpoint deduplicates); the next call tries again.
      spdlog::warn("cannot open the store of {} yet: {}", endpoint_, e.what());
      return std::nullopt;
    }
  }
  const store::VersionStore& store = view_->store();
  std::optional<RecordedRequest> found;
  store.read([&](store::Txn& txn) {
    const std::optional<store::Applied> applied = store.findApplied(txn, id);
    if (!applied) return;
    const std::optional<store::EntityName> name = store.findEntityName(txn, applied->entity);
    if (!name) fail(ErrorKind::kBug, "applied entry of " + id.toHex() + " names no entity");
    RecordedRequest r;
    r.entity = name->entityType + "/" + name->key;
    r.version = applied->version;
    r.appliedAtNs = applied->appliedAtNs.value_or(0);
    const std::optional<store::HistoryEntry> entry =
        store.findHistory(txn, applied->entity, applied->version);
    if (!entry) {
      r.historyKept = false;
      found = std::move(r);
      return;
    }
    detail::RecordedInput input(entry->input);
    r.messageType = input.envelope().getMessageType();
    const auto payload = input.envelope().getPayload();
    const auto* bytes = reinterpret_cast<const std::byte*>(payload.begin());
    r.payload.assign(bytes, bytes + payload.size());
    detail::StateLoader loader(store, view_->handlers());
    detail::LoadedState before = loader.load(txn, applied->entity, applied->version - 1);
    detail::RunResult run =
        detail::rerunRecorded(view_->handlers(), *entry, *name, applied->version, before.words());
    if (run.emitted.digest != entry->outputDigest) {
      fail(ErrorKind::kBug, "non-determinism: re-running " + r.entity + " version " +
                                std::to_string(r.version) +
                                " does not reproduce its recorded outputs");
    }
    for (const Outbound& out : run.emitted.messages) {
      if (out.destination != replyQueue) continue;
      CanonicalReader reader(out.envelope, "reply envelope");
      const auto replyPayload = reader.root<wire::Envelope>().getPayload();
      const auto* p = reinterpret_cast<const std::byte*>(replyPayload.begin());
      r.reply = RecordedRequest::Reply{out.messageType, Bytes(p, p + replyPayload.size())};
      break;
    }
    found = std::move(r);
  });
  return found;
}

}  // namespace idem::http
