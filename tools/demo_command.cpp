// `idem demo bank|orders`: runs a sample app as real processes under chaos and checks that
// nothing was lost or doubled. The driver lives in tools/demo/.
#include <algorithm>
#include <iostream>
#include <memory>

#include "idem/nats_transport.h"
#include "tools/commands.h"
#include "tools/demo/demo_driver.h"
#include "tools/demo/demo_options.h"

namespace idem::tools {

void addDemoCommand(CLI::App& cli, int& exitCode) {
  auto o = std::make_shared<demo::DemoOptions>();
  auto dir = std::make_shared<std::string>();
  auto reportFile = std::make_shared<std::string>();
  auto leaseMs = std::make_shared<unsigned>(1500);
  auto killEveryMs = std::make_shared<unsigned>(900);
  auto stallSeconds = std::make_shared<unsigned>(60);
  auto noChaos = std::make_shared<bool>(false);
  auto processes = std::make_shared<unsigned>(0);
  CLI::App* cmd = cli.add_subcommand(
      "demo",
      "Run a sample app (bank or orders) as endpoint processes under chaos, then check its "
      "invariants. Run again on the same --dir to finish an interrupted demo");
  cmd->add_option("app", o->app, "bank or orders")
      ->required()
      ->check(CLI::IsMember({"bank", "orders"}));
  auto* transfers =
      cmd->add_option("--transfers", o->transfers, "bank: transfers to run")->capture_default_str();
  auto* accounts =
      cmd->add_option("--accounts", o->accounts, "bank: accounts to open")->capture_default_str();
  auto* orders =
      cmd->add_option("--orders", o->orders, "orders: orders to place")->capture_default_str();
  auto* seed = cmd->add_option("--seed", o->seed, "seed of the workload and the chaos")
                   ->capture_default_str();
  cmd->add_option("--dir", *dir, "where the bus, stores, logs and demo.json live")
      ->default_str("build/demo-<app>");
  auto* transport = cmd->add_option(
      "--transport", o->transport,
      "embedded (default: DIR/bus) or nats://HOST:PORT (NATS JetStream; a fresh demo deletes "
      "and recreates its endpoints' streams)");
  cmd->add_option("--processes-per-endpoint", *processes,
                  "processes competing for each endpoint's queue (default: the app's layout on "
                  "the embedded bus, 2 on NATS)");
  cmd->add_flag("--no-chaos", *noChaos, "no kills, no duplicate deliveries");
  cmd->add_option("--report", *reportFile, "also write the report as JSON to this file");
  cmd->add_option("--lease-ms", *leaseMs,
                  "lease of a received message: a killed process's messages return after it")
      ->capture_default_str();
  cmd->add_option("--kill-every-ms", *killEveryMs,
                  "chaos: mean time between kills (each after 1/3 to 5/3 of it)")
      ->capture_default_str();
  cmd->add_option("--stall-seconds", *stallSeconds, "give up after this long without progress")
      ->capture_default_str();
  cmd->callback([=, &exitCode] {
    o->dir = dir->empty() ? std::filesystem::path("build") / ("demo-" + o->app)
                          : std::filesystem::path(*dir);
    o->reportFile = *reportFile;
    o->chaos = !*noChaos;
    o->lease = std::chrono::milliseconds(*leaseMs);
    o->killEvery = std::chrono::milliseconds(std::max(3u, *killEveryMs));
    o->stallTimeout = std::chrono::seconds(*stallSeconds);
    o->processesPerEndpoint = *processes;
    if (o->transport == "embedded") o->transport.clear();
    if (!o->transport.empty()) (void)natsOptionsFor(o->transport);  // throws for a bad URL
    const demo::GivenFlags given{transfers->count() > 0, accounts->count() > 0, orders->count() > 0,
                                 seed->count() > 0, transport->count() > 0};
    const bool resumed = demo::reconcileWithSaved(*o, given);
    if (resumed) {
      std::cerr << "continuing the demo in " << o->dir.string() << " (parameters from "
                << (o->dir / "demo.json").string() << ")\n";
    }
    exitCode = demo::runDemo(*o, resumed);
  });
}

}  // namespace idem::tools
