// serve(): the endpoint process: Host, transport, stores, stats files and the crash hook.
#include "tools/serve.h"

#include <signal.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "idem/error.h"
#include "idem/host.h"
#include "idem/nats_transport.h"
#include "tools/fatal_signals.h"
#include "tools/workspace.h"

namespace idem::tools {

namespace {

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
  const nlohmann::json json = {
      {"endpoint", endpoint.name()},   {"pid", ::getpid()},
      {"batches", s.batches},          {"processed", s.processed},
      {"duplicates", s.duplicates},    {"alreadyPublished", s.alreadyPublished},
      {"published", s.published},      {"retried", s.retried},
      {"deadLettered", s.deadLettered}};
  std::filesystem::create_directories(workspace.statsDirectory());
  const auto file =
      workspace.statsDirectory() / (endpoint.name() + "." + std::to_string(::getpid()) + ".json");
  const auto tmp = file.string() + ".tmp";
  std::ofstream(tmp) << json.dump() << "\n";
  std::filesystem::rename(tmp, file);
}

// Connects to NATS, retrying with back-off while no server answers. Returns nullptr when SIGTERM
// or SIGINT arrives meanwhile (they are blocked by the Host: waited for here).
std::unique_ptr<Transport> connectNats(const ServeOptions& o) {
  NatsTransportOptions options = natsOptionsFor(o.transport);
  options.ackWait = std::chrono::milliseconds(o.leaseMs);
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  std::chrono::milliseconds backoff{100};
  for (;;) {
    try {
      return std::make_unique<NatsTransport>(options);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kTransient) throw;
      spdlog::warn("{}; retrying in {} ms", e.what(), backoff.count());
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(backoff);
    const timespec wait{static_cast<time_t>(seconds.count()),
                        static_cast<long>((backoff - seconds).count() * 1'000'000)};
    if (::sigtimedwait(&stopSignals, nullptr, &wait) > 0) return nullptr;
    backoff = std::min(std::chrono::milliseconds{5000}, backoff * 2);
  }
}

std::unique_ptr<Transport> openTransport(const ServeOptions& o, const Workspace& workspace) {
  if (o.transport.empty() || o.transport == "embedded") {
    EmbeddedTransportOptions busOptions;
    busOptions.busDirectory = workspace.bus();
    busOptions.leaseTimeout = std::chrono::milliseconds(o.leaseMs);
    busOptions.durable = !o.noFsync;
    return std::make_unique<EmbeddedTransport>(busOptions);
  }
  return connectNats(o);
}

}  // namespace

int serve(const App& app, const ServeOptions& o) {
  reportFatalSignals();  // a crash names where it happened, in the endpoint's log
  const Workspace workspace{o.dir};
  Host host;  // first: blocks SIGTERM/SIGINT before any thread starts
  const std::unique_ptr<Transport> transport = openTransport(o, workspace);
  if (!transport) {
    spdlog::info("stopped while waiting for NATS");
    return 0;
  }
  Transport& bus = *transport;

  // Every endpoint of the app subscribes now, served here or not: a published message reaches
  // the subscribers known when it is published, so no start order can lose one.
  for (const AppEndpoint& e : app.endpoints) {
    const Handlers handlers = app.handlers(e.name);
    for (const auto& handler : handlers.all()) bus.subscribe(e.name, handler->messageType);
  }

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
  spdlog::info("serving {} of app {} in {} (pid {})", fmt::join(o.endpoints, ", "), app.name,
               workspace.root.string(), ::getpid());

  std::atomic<bool> done{false};
  std::jthread statsWriter([&] {
    while (!done.load()) {
      try {
        for (const auto& e : endpoints) writeStats(workspace, *e);
      } catch (const std::exception& e) {  // counters are informative: never end the process
        spdlog::warn("cannot write the stats files: {}", e.what());
      }
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

}  // namespace idem::tools
