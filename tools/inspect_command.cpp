// `idem inspect`: a store's entities, an entity's history, its state at any version or just
// before any message, and the outputs of any version re-derived, as tables or JSON.
#include <cstdio>
#include <iostream>
#include <memory>

#include "idem/error.h"
#include "tools/commands.h"
#include "tools/store_view.h"

namespace idem::tools {

namespace {

struct InspectOptions {
  std::string store;
  std::string app;
  std::string handlers;
  std::string endpoint;
  std::string entityType;
  std::string keyPrefix;
  std::uint64_t after = 0;
  std::size_t limit = 50;
  std::string entity;
  std::optional<std::uint64_t> version;
  std::string beforeMessage;
  std::optional<std::uint64_t> outputs;
  bool json = false;
};

std::string entityLabel(const EntityRow& row) { return row.name.entityType + "/" + row.name.key; }

void listEntities(const StoreView& view, const InspectOptions& o) {
  const std::vector<EntityRow> rows = view.entities({o.entityType, o.keyPrefix}, o.after, o.limit);
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const EntityRow& r : rows) {
      out.push_back({{"number", r.number},
                     {"type", r.name.entityType},
                     {"key", r.name.key},
                     {"versions", r.head},
                     {"firstRetainedVersion", r.firstRetained}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("endpoint %s\n%8s  %-40s %8s  %s\n", view.endpoint().c_str(), "number", "entity",
              "versions", "history kept from");
  for (const EntityRow& r : rows) {
    std::printf("%8llu  %-40s %8llu  v%llu%s\n", static_cast<unsigned long long>(r.number),
                entityLabel(r).c_str(), static_cast<unsigned long long>(r.head),
                static_cast<unsigned long long>(r.firstRetained), r.pruned() ? " (pruned)" : "");
  }
  if (rows.size() == o.limit) {
    std::printf("(more: --after %llu)\n", static_cast<unsigned long long>(rows.back().number));
  }
}

void showHistory(const StoreView& view, const EntityRow& entity, bool json) {
  const std::vector<HistoryRow> rows = view.history(entity.number);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const HistoryRow& r : rows) {
      out.push_back({{"version", r.version},
                     {"inputId", r.inputId.toHex()},
                     {"messageType", r.messageTypeName},
                     {"recordedAt", formatTimeNs(r.recordedAtNs)},
                     {"handler", r.handlerId},
                     {"handlerVersion", r.handlerVersion},
                     {"outputs", r.outputCount},
                     {"outputDigest", hexOf(r.outputDigest)},
                     {"stateChanged", r.stateChanged},
                     {"snapshot", r.hasSnapshot}});
    }
    std::cout << out.dump(2) << "\n";
    if (entity.pruned()) std::cerr << entityLabel(entity) << ": " << entity.prunedNote() << "\n";
    return;
  }
  std::printf("%s (entity %llu, endpoint %s): %llu versions\n", entityLabel(entity).c_str(),
              static_cast<unsigned long long>(entity.number), view.endpoint().c_str(),
              static_cast<unsigned long long>(entity.head));
  if (entity.pruned()) std::printf("%s\n", entity.prunedNote().c_str());
  std::printf("%4s  %-32s  %-16s  %-30s  %-22s %3s  %-16s %s\n", "v", "input id", "message type",
              "recorded at (UTC)", "handler", "out", "output digest", "state");
  for (const HistoryRow& r : rows) {
    const std::string handler = r.handlerId + " v" + std::to_string(r.handlerVersion);
    std::printf(
        "%4llu  %-32s  %-16s  %-30s  %-22s %3u  %-16s %s\n",
        static_cast<unsigned long long>(r.version), r.inputId.toHex().c_str(),
        r.messageTypeName.c_str(), formatTimeNs(r.recordedAtNs).c_str(), handler.c_str(),
        r.outputCount, hexOf(r.outputDigest).substr(0, 16).c_str(),
        r.stateChanged ? (r.hasSnapshot ? "changed" : "changed (no snapshot)") : "unchanged");
  }
}

int inspect(const InspectOptions& o) {
  const App app = chooseApp(o.app, o.handlers);
  const StoreView view(o.store, app, o.endpoint);
  if (o.entity.empty()) {
    if (o.version || o.outputs || !o.beforeMessage.empty()) {
      fail(ErrorKind::kPermanent, "--version, --outputs and --before-message need --entity");
    }
    listEntities(view, o);
    return 0;
  }
  const std::optional<EntityRow> entity = view.findEntity(o.entity);
  if (!entity) fail(ErrorKind::kPermanent, "no entity " + o.entity + " in " + o.store);
  if (!o.beforeMessage.empty()) {
    const auto id = MessageId::fromHex(o.beforeMessage);
    if (!id) fail(ErrorKind::kPermanent, "--before-message takes 32 hex digits");
    const auto applied = view.findApplied(*id);
    if (!applied || applied->entity != entity->number) {
      fail(ErrorKind::kPermanent, "message " + o.beforeMessage + " was not applied to " + o.entity);
    }
    std::cout << nlohmann::json{{"entity", o.entity},
                                {"version", applied->version - 1},
                                {"beforeMessage", o.beforeMessage},
                                {"state", view.stateAt(*entity, applied->version - 1)}}
                     .dump(2)
              << "\n";
    return 0;
  }
  if (o.version) {
    if (*o.version > entity->head) {
      fail(ErrorKind::kPermanent, o.entity + " has " + std::to_string(entity->head) +
                                      " versions, not " + std::to_string(*o.version));
    }
    std::cout << nlohmann::json{{"entity", o.entity},
                                {"version", *o.version},
                                {"state", view.stateAt(*entity, *o.version)}}
                     .dump(2)
              << "\n";
    return 0;
  }
  if (o.outputs) {
    if (*o.outputs == 0 || *o.outputs > entity->head) {
      fail(ErrorKind::kPermanent, o.entity + " has no version " + std::to_string(*o.outputs));
    }
    nlohmann::json out = view.outputsAt(*entity, *o.outputs);
    out["entity"] = o.entity;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  showHistory(view, *entity, o.json);
  return 0;
}

}  // namespace

void addInspectCommand(CLI::App& cli, int& exitCode) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = cli.add_subcommand(
      "inspect",
      "Show a store's entities, an entity's history, its state at a version, or the "
      "outputs of a version (read-only)");
  cmd->add_option("store", o->store, "the endpoint's store directory")->required();
  cmd->add_option("--app", o->app,
                  "built-in app whose handlers wrote the store (bank, orders, provider)");
  cmd->add_option("--handlers", o->handlers, "handler module (.so) whose handlers wrote it");
  cmd->add_option("--endpoint", o->endpoint,
                  "the app's endpoint to take handlers from (default: the store's endpoint)");
  cmd->add_option("--type", o->entityType, "list only entities of this type");
  cmd->add_option("--key-prefix", o->keyPrefix, "list only entities whose key starts so");
  cmd->add_option("--after", o->after, "list entities numbered above N (paging)");
  cmd->add_option("--limit", o->limit, "list at most N entities (default 50)");
  cmd->add_option("--entity", o->entity, "TYPE/KEY: show this entity's history");
  cmd->add_option("--version", o->version, "with --entity: the state at version V as JSON");
  cmd->add_option("--before-message", o->beforeMessage,
                  "with --entity: the state just before message ID (32 hex digits)");
  cmd->add_option("--outputs", o->outputs,
                  "with --entity: the outputs of version V, re-derived, as JSON");
  cmd->add_flag("--json", o->json, "lists and histories as JSON");
  cmd->callback([o, &exitCode] { exitCode = inspect(*o); });
}

}  // namespace idem::tools
