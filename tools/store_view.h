// StoreView: a version store opened read-only with the handlers of its endpoint, as the tools
// (inspect, audit, replay) read it: entities, histories, states and outputs rendered as JSON.
// Every call runs its own short read transaction, so a live store's writer is never held up and
// its file never grows because of a long-lived reader.
#pragma once

#include <capnp/schema.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "framework/handler_run.h"
#include "idem/handlers.h"
#include "store/version_store.h"
#include "tools/apps.h"

namespace idem::tools {

struct EntityFilter {
  std::string entityType;  // empty: any
  std::string keyPrefix;   // empty: any
};

struct EntityRow {
  std::uint64_t number = 0;
  store::EntityName name;
  std::uint64_t head = 0;
  // The oldest version whose history is kept: 1, or N when retention pruned versions 1..N-1
  // (the state at N-1 is kept as a snapshot; older states and outputs are gone).
  std::uint64_t firstRetained = 1;
  bool pruned() const { return firstRetained > 1; }
  // "history below version N was pruned (retention); ..." for people; empty when nothing was.
  std::string prunedNote() const;
};

// One history entry, copied out of its transaction.
struct HistoryRow {
  std::uint64_t version = 0;
  MessageId inputId;
  std::uint64_t messageType = 0;
  std::string messageTypeName;  // the schema's short name, or "0x..." when the app lacks it
  std::int64_t recordedAtNs = 0;
  std::string handlerId;
  std::uint32_t handlerVersion = 0;
  std::uint32_t outputCount = 0;
  std::array<std::uint8_t, 32> outputDigest{};
  bool stateChanged = false;
  bool hasSnapshot = false;
};

class StoreView {
 public:
  // Opens the store in `dir` read-only (VersionStore with readOnly), with the handlers `app`
  // registers for `endpoint` (empty: the store's own endpoint). `app` must outlive the view.
  // Throws idem::Error (permanent) when the store cannot be opened or the app has no such
  // endpoint.
  StoreView(const std::filesystem::path& dir, const App& app, std::string endpoint = {});

  const store::VersionStore& store() const { return store_; }
  const Handlers& handlers() const { return handlers_; }
  const std::string& endpoint() const { return store_.endpointName(); }

  // Up to `limit` entities numbered above `after` that pass `filter`, in number order.
  std::vector<EntityRow> entities(const EntityFilter& filter, std::uint64_t after,
                                  std::size_t limit) const;
  // Entity "TYPE/KEY" (split at the first '/'), or nullopt.
  std::optional<EntityRow> findEntity(std::string_view typeSlashKey) const;
  std::optional<EntityRow> findEntity(std::uint64_t number) const;
  // The kept history entries (versions firstRetained..head).
  std::vector<HistoryRow> history(std::uint64_t entity) const;
  // The entity and version that input `id` produced, if it was applied here.
  std::optional<store::Applied> findApplied(const MessageId& id) const;

  // The state of `entity` at `version` (0: the initial state) as JSON, loaded as the endpoint
  // does (snapshot, then fold). Throws idem::Error when a handler to fold is not registered.
  nlohmann::json stateAt(const EntityRow& entity, std::uint64_t version) const;
  // The outputs of `version`, re-derived by running its recorded handler on the state before it,
  // as JSON: {"digestMatches":bool,"outputs":[envelope...]}. Throws idem::Error (permanent) when
  // the version does not exist or its history was pruned.
  nlohmann::json outputsAt(const EntityRow& entity, std::uint64_t version) const;

  // --- rendering --------------------------------------------------------------------------
  // Canonical state bytes of an entity type as JSON (the state schema of its handlers); the
  // empty state renders as the schema's defaults. Hex when the type is unknown.
  nlohmann::json stateJson(std::string_view entityType,
                           kj::ArrayPtr<const capnp::word> state) const;
  // An envelope's fields and its payload as JSON (the payload as hex when its type is unknown).
  nlohmann::json envelopeJson(std::span<const std::byte> envelope) const;
  nlohmann::json outputsJson(const std::vector<Outbound>& outputs) const;
  std::string messageTypeName(std::uint64_t messageType) const;

 private:
  const App& app_;
  store::VersionStore store_;
  Handlers handlers_;
  std::map<std::string, capnp::StructSchema, std::less<>> stateSchemas_;  // by entity type
  std::map<std::uint64_t, capnp::StructSchema> messageSchemas_;           // of the whole app
};

// The handlers that `app` registers for its endpoint `appEndpoint`, named `storeEndpoint` (the
// name output ids are derived from). Throws idem::Error (permanent) when there is no such
// endpoint. The result runs the app's code: it must not outlive `app`.
Handlers endpointHandlers(const App& app, const std::string& appEndpoint,
                          const std::string& storeEndpoint);

// Lowercase hex of `bytes`.
std::string hexOf(std::span<const std::uint8_t> bytes);
// "2024-05-01T12:00:00.123456789Z"
std::string formatTimeNs(std::int64_t ns);

}  // namespace idem::tools
