// `idem replay --what-if`: other handler code against a store's recorded inputs, without
// writing: which states and outputs would change, with diffs, summarised by handler and type.
#include <cstdio>
#include <iostream>
#include <memory>

#include "idem/error.h"
#include "tools/commands.h"
#include "tools/what_if.h"

namespace idem::tools {

namespace {

struct ReplayOptions {
  std::string store;
  std::string app;
  std::string handlers;
  std::string baselineApp;
  std::string baselineHandlers;
  std::string endpoint;
  std::string entity;
  std::size_t limit = 20;
  bool whatIf = false;
  bool json = false;
};

constexpr int kWouldChange = 3;

int replay(const ReplayOptions& o) {
  if (!o.whatIf) {
    fail(ErrorKind::kPermanent, "replay only runs as --what-if (it never writes to the store)");
  }
  const App newApp = chooseApp(o.app, o.handlers);
  const StoreView view(o.store, newApp, o.endpoint);
  std::optional<App> baselineApp;
  std::optional<Handlers> baseline;
  if (!o.baselineApp.empty() || !o.baselineHandlers.empty()) {
    baselineApp = chooseApp(o.baselineApp, o.baselineHandlers);
    baseline = endpointHandlers(*baselineApp, o.endpoint.empty() ? view.endpoint() : o.endpoint,
                                view.endpoint());
  }
  WhatIfOptions options;
  if (!o.entity.empty()) {
    const std::optional<EntityRow> row = view.findEntity(o.entity);
    if (!row) fail(ErrorKind::kPermanent, "no entity " + o.entity + " in " + o.store);
    options.onlyEntity = row->number;
  }
  const WhatIfReport report =
      replayWhatIf(view, view.handlers(), baseline ? &*baseline : nullptr, options);
  if (o.json) {
    std::cout << whatIfJson(report).dump(2) << "\n";
  } else {
    std::cout << formatWhatIf(report, o.limit);
    if (!baseline) {
      std::cout << "(no --baseline-app/--baseline-handlers: states compared with the stored "
                   "snapshots, outputs with the recorded digests only)\n";
    }
  }
  return report.unchanged() ? 0 : kWouldChange;
}

}  // namespace

void addReplayCommand(CLI::App& cli, int& exitCode) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = cli.add_subcommand(
      "replay",
      "Run other handler code against a store's recorded inputs without writing (--what-if): "
      "which states and outputs would change. Exit code 3 when any would");
  cmd->add_option("store", o->store, "the endpoint's store directory")->required();
  cmd->add_flag("--what-if", o->whatIf, "required: report, never write");
  cmd->add_option("--handlers", o->handlers, "the new code: a handler module (.so)");
  cmd->add_option("--app", o->app, "the new code: a built-in app");
  cmd->add_option("--baseline-handlers", o->baselineHandlers,
                  "the code that wrote the store (module), for output payload diffs");
  cmd->add_option("--baseline-app", o->baselineApp,
                  "the code that wrote the store (built-in app), for output payload diffs");
  cmd->add_option("--endpoint", o->endpoint,
                  "the app's endpoint to take handlers from (default: the store's endpoint)");
  cmd->add_option("--entity", o->entity, "TYPE/KEY: replay only this entity");
  cmd->add_option("--limit", o->limit, "show at most N changes (default 20; --json shows all)");
  cmd->add_flag("--json", o->json, "the report as JSON");
  cmd->callback([o, &exitCode] { exitCode = replay(*o); });
}

}  // namespace idem::tools
