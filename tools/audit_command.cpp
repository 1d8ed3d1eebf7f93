// `idem audit`: re-derives every version of every entity from its recorded input and checks
// the stored snapshots and output digests; exit code 3 when anything diverges.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "idem/error.h"
#include "tools/commands.h"
#include "tools/html_report.h"
#include "tools/store_audit.h"

namespace idem::tools {

namespace {

struct AuditCommandOptions {
  std::string store;
  std::string app;
  std::string handlers;
  std::string endpoint;
  std::string entity;
  std::string html;
  bool json = false;
};

constexpr int kDiverged = 3;

// A progress bar on stderr when it is a terminal, redrawn at most ten times a second.
class ProgressBar {
 public:
  ProgressBar() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() {
    if (drawn_) std::fputs("\n", stderr);
  }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 40;
    const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
    std::fprintf(stderr, "\raudit [%-*.*s] %llu/%llu entities", kWidth, filled,
                 "########################################", static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total));
    drawn_ = true;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

int audit(const AuditCommandOptions& o) {
  const App app = chooseApp(o.app, o.handlers);
  const StoreView view(o.store, app, o.endpoint);
  AuditOptions options;
  if (!o.entity.empty()) {
    const std::optional<EntityRow> row = view.findEntity(o.entity);
    if (!row) fail(ErrorKind::kPermanent, "no entity " + o.entity + " in " + o.store);
    options.onlyEntity = row->number;
  }
  AuditReport report;
  {
    ProgressBar bar;
    options.progress = [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
    report = auditStore(view, options);
  }
  if (!o.html.empty()) {
    std::vector<EntityRow> shown;
    if (options.onlyEntity) shown.push_back(*view.findEntity(*options.onlyEntity));
    writeHtmlReport(o.html, view, report, shown);
  }
  if (o.json) {
    std::cout << auditJson(view, report).dump(2) << "\n";
  } else {
    for (const Divergence& d : report.divergences) std::cout << formatDivergence(d);
    std::printf(
        "audit of %s (endpoint %s): %llu entities, %llu versions, %llu snapshots and "
        "%llu output digests checked: %s\n",
        o.store.c_str(), view.endpoint().c_str(), static_cast<unsigned long long>(report.entities),
        static_cast<unsigned long long>(report.versions),
        static_cast<unsigned long long>(report.snapshotsChecked),
        static_cast<unsigned long long>(report.digestsChecked),
        report.clean() ? "no divergence"
                       : (std::to_string(report.divergences.size()) + " DIVERGENCES").c_str());
    if (report.prunedEntities > 0) {
      std::printf(
          "%llu entities had history pruned by retention: audited from the oldest kept version, "
          "starting from the snapshot kept just below it\n",
          static_cast<unsigned long long>(report.prunedEntities));
    }
    if (!o.html.empty()) std::printf("report written to %s\n", o.html.c_str());
  }
  return report.clean() ? 0 : kDiverged;
}

}  // namespace

void addAuditCommand(CLI::App& cli, int& exitCode) {
  auto o = std::make_shared<AuditCommandOptions>();
  CLI::App* cmd = cli.add_subcommand(
      "audit",
      "Re-derive every version from its recorded input and verify every snapshot and output "
      "digest (read-only). Exit code 3 when anything diverges");
  cmd->add_option("store", o->store, "the endpoint's store directory")->required();
  cmd->add_option("--app", o->app,
                  "built-in app whose handlers wrote the store (bank, orders, provider)");
  cmd->add_option("--handlers", o->handlers, "handler module (.so) whose handlers wrote it");
  cmd->add_option("--endpoint", o->endpoint,
                  "the app's endpoint to take handlers from (default: the store's endpoint)");
  cmd->add_option("--entity", o->entity, "TYPE/KEY: audit only this entity");
  cmd->add_option("--html", o->html,
                  "write a self-contained HTML report: a timeline of --entity, or of each "
                  "divergent entity");
  cmd->add_flag("--json", o->json, "the report as JSON on stdout");
  cmd->callback([o, &exitCode] { exitCode = audit(*o); });
}

}  // namespace idem::tools
