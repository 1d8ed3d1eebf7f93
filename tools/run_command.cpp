// `idem run`: one process serving one or more endpoints of an app over the embedded bus, until
// SIGTERM or SIGINT (then it drains). Test builds of a deployment can make it die by SIGKILL at a
// named pipeline step with IDEM_CRASH_AT=<step>[:<n>] (the n-th time; default 1), where <step>
// is in-handler, before-commit, after-commit, after-publish or before-ack.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "idem/error.h"
#include "idem/host.h"
#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/workspace.h"

namespace idem::tools {

namespace {

struct RunOptions {
  std::string app;
  std::vector<std::string> endpoints;
  std::string dir;
  std::size_t batchSize = 256;
  unsigned leaseMs = 30'000;
  bool noFsync = false;
};

// IDEM_CRASH_AT=<step>[:<n>]: SIGKILL at the n-th time any endpoint of this process reaches it.
std::function<void(FaultPoint)> crashHookFromEnvironment() {
  const char* spec = std::getenv("IDEM_CRASH_AT");
  if (spec == nullptr || *spec == '\0') return {};
  std::string text = spec;
  unsigned occurrence = 1;
  if (auto colon = text.find(':'); colon != std::string::npos) {
    occurrence = static_cast<unsigned>(std::stoul(text.substr(colon + 1)));
    text.resize(colon);
  }
  std::optional<FaultPoint> point;
  for (FaultPoint p : {FaultPoint::kInHandler, FaultPoint::kBeforeCommit, FaultPoint::kAfterCommit,
                       FaultPoint::kAfterPublish, FaultPoint::kBeforeAck}) {
    if (text == toString(p)) point = p;
  }
  if (!point) fail(ErrorKind::kPermanent, "IDEM_CRASH_AT names no pipeline step: " + text);
  spdlog::warn("fault injection on: this process kills itself at {} #{}", text, occurrence);
  auto seen = std::make_shared<std::atomic<unsigned>>(0);
  return [point = *point, occurrence, seen](FaultPoint p) {
    if (p == point && ++*seen == occurrence) ::raise(SIGKILL);
  };
}

void writeStats(const Workspace& workspace, const Endpoint& endpoint) {
  const EndpointStats s = endpoint.stats();
  nlohmann::json json = {{"endpoint", endpoint.name()},     {"pid", ::getpid()},
                         {"batches", s.batches},            {"processed", s.processed},
                         {"duplicates", s.duplicates},      {"alreadyPublished", s.alreadyPublished},
                         {"published", s.published},        {"retried", s.retried},
                         {"deadLettered", s.deadLettered}};
  std::filesystem::create_directories(workspace.statsDirectory());
  const auto file = workspace.statsDirectory() /
                    (endpoint.name() + "." + std::to_string(::getpid()) + ".json");
  const auto tmp = file.string() + ".tmp";
  std::ofstream(tmp) << json.dump() << "\n";
  std::filesystem::rename(tmp, file);
}

int run(const RunOptions& o) {
  const App& app = findApp(o.app);
  const Workspace workspace{o.dir};
  Host host;  // first: blocks SIGTERM/SIGINT before any thread starts
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = workspace.bus();
  busOptions.leaseTimeout = std::chrono::milliseconds(o.leaseMs);
  busOptions.durable = !o.noFsync;
  EmbeddedTransport bus(busOptions);

  auto crashHook = crashHookFromEnvironment();
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  for (const std::string& name : o.endpoints) {
    EndpointOptions options;
    options.storeDirectory = workspace.store(name);
    options.batchSize = o.batchSize;
    options.durable = !o.noFsync;
    options.faultHook = crashHook;
    endpoints.push_back(std::make_unique<Endpoint>(app.handlers(name), bus, options));
    host.add(*endpoints.back());
  }
  spdlog::info("serving {} of app {} in {} (pid {})", fmt::join(o.endpoints, ", "), o.app,
               workspace.root.string(), ::getpid());

  std::atomic<bool> done{false};
  std::jthread statsWriter([&] {
    while (!done.load()) {
      for (const auto& e : endpoints) writeStats(workspace, *e);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  host.run();
  done = true;
  statsWriter.join();
  for (const auto& e : endpoints) writeStats(workspace, *e);
  spdlog::info("drained and stopped");
  return 0;
}

}  // namespace

void addRunCommand(CLI::App& cli, int& exitCode) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = cli.add_subcommand(
      "run", "Serve endpoints of an app over the embedded bus until SIGTERM/SIGINT (then drain)");
  cmd->add_option("--app", options->app, "bank or orders")->required();
  cmd->add_option("--endpoint", options->endpoints, "endpoint to serve (repeatable)")->required();
  cmd->add_option("--dir", options->dir, "workspace: DIR/bus and DIR/stores/<endpoint>")
      ->required();
  cmd->add_option("--batch", options->batchSize, "inputs per transaction (group commit)")
      ->capture_default_str();
  cmd->add_option("--lease-ms", options->leaseMs, "how long a received message stays invisible")
      ->capture_default_str();
  cmd->add_flag("--no-fsync", options->noFsync, "skip fsync (benchmarks only: unsafe on OS crash)");
  cmd->callback([options, &exitCode] { exitCode = run(*options); });
}

}  // namespace idem::tools
