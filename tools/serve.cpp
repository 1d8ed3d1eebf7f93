// serve(): the endpoint process: Host, transport, stores, stats files and the crash hook.
#include "tools/serve.h"

#include <signal.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "admin/admin_server.h"
#include "admin/metrics_text.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "idem/error.h"
#include "idem/host.h"
#include "idem/http_call.h"
#include "idem/nats_admin.h"
#include "idem/nats_transport.h"
#include "tools/crash_hook.h"
#include "tools/fatal_signals.h"
#include "tools/serve_group.h"
#include "tools/stats_files.h"
#include "tools/workspace.h"

namespace idem::tools {

NatsTransportOptions natsConnection(const ServeOptions& o) {
  NatsTransportOptions options = o.nats;
  options.url = natsOptionsFor(o.transport).url;  // refuses what is not a NATS URL
  if (const char* password = std::getenv("IDEM_NATS_PASSWORD")) options.password = password;
  return options;
}

namespace {

// One Endpoint this process serves: an endpoint, or one partition of it.
struct Served {
  std::string label;  // the endpoint's name, with ".p<N>" when it has several partitions
  std::unique_ptr<Transport> partitionView;  // the NatsPartition it receives from, if any
  std::unique_ptr<Endpoint> endpoint;
};

void writeStats(const Workspace& workspace, const Served& served) {
  writeStatsFile(workspace, served.label,
                 {{"endpoint", served.endpoint->name()}, {"partition", served.label}},
                 served.endpoint->stats());
}

// What the admin listener reads: the served endpoints once they all serve, nothing before and
// after (serve() clears it, under the lock, before the endpoints are destroyed). Not ready from
// the moment the host drains (SIGTERM, SIGINT, an endpoint's failure) on: /readyz answers 503
// while the last batches finish, so that a load balancer stops sending before the process exits.
struct AdminView {
  explicit AdminView(const Host& h) : host(h) {}
  const Host& host;
  std::mutex lock;
  const std::vector<Served>* endpoints = nullptr;
  EmbeddedTransport* bus = nullptr;  // the queue depths, on the embedded transport
  NatsAdmin* nats = nullptr;         // or on NATS: a connection of its own (serve() owns it)
  bool endpointsGone = false;

  // The depths of `served`'s queue, when the transport gives them. Over NATS only for an
  // endpoint of one partition: the consumer counts are summed over an endpoint's partitions.
  std::optional<QueueStats> queueOf(const Served& served,
                                    const std::vector<NatsQueueStats>& natsQueues) const {
    if (bus != nullptr) return bus->queue(served.endpoint->name());
    for (const NatsQueueStats& q : natsQueues) {
      if (q.endpoint == served.endpoint->name() && served.label == q.endpoint) {
        return QueueStats{q.endpoint, q.ready, q.inFlight, 0, q.errors};
      }
    }
    return std::nullopt;
  }

  admin::AdminResponse answer(std::string_view path) {
    std::lock_guard guard(lock);
    const bool draining = endpointsGone || host.draining();
    const bool ready = endpoints != nullptr && !draining;
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
      if (ready) return {200, "text/plain; charset=utf-8", "ready\n"};
      return {503, "text/plain; charset=utf-8", draining ? "draining\n" : "starting\n"};
    }
    if (path == "/metrics") {
      std::vector<NatsQueueStats> natsQueues;
      if (nats != nullptr && endpoints != nullptr) {
        try {
          natsQueues = nats->queues();
        } catch (const Error& e) {  // the counters are still worth answering with
          spdlog::warn("/metrics without NATS queue depths: {}", e.what());
        }
      }
      std::vector<admin::EndpointSample> samples;
      for (std::size_t i = 0; endpoints != nullptr && i < endpoints->size(); ++i) {
        const Served& s = (*endpoints)[i];
        admin::EndpointSample sample{s.endpoint->name(), s.label, s.endpoint->stats(), {}};
        sample.queue = queueOf(s, natsQueues);
        samples.push_back(std::move(sample));
      }
      return {200, admin::kMetricsContentType, admin::metricsText(samples, ready)};
    }
    return {404, "text/plain; charset=utf-8", "not found: /metrics, /healthz or /readyz\n"};
  }
  void serving(const std::vector<Served>& served, Transport& transport, NatsAdmin* natsAdmin) {
    std::lock_guard guard(lock);
    endpoints = &served;
    bus = dynamic_cast<EmbeddedTransport*>(&transport);
    nats = natsAdmin;
  }
  void stopped() {
    std::lock_guard guard(lock);
    endpoints = nullptr;
    bus = nullptr;
    nats = nullptr;
    endpointsGone = true;
  }
};

// Sends `state` to systemd when it started us (NOTIFY_SOCKET); a no-op otherwise.
void notifySystemd(const std::string& state) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
  if (const int r = ::sd_notify(0, state.c_str()); r < 0) {
    spdlog::warn("cannot notify systemd ({}): {}", state.substr(0, state.find('\n')),
                 std::strerror(-r));
  }
}

// Connects to NATS, retrying with back-off while no server answers. Returns nullptr when SIGTERM
// or SIGINT arrives meanwhile (they are blocked by the Host: waited for here).

std::unique_ptr<Transport> connectNats(const App& app, const ServeOptions& o) {
  NatsTransportOptions options = natsConnection(o);
  if (o.partitionCount > 0) {
    for (const std::string& name : o.endpoints) options.partitionCounts[name] = o.partitionCount;
  }
  options.keyResolver = keyResolverForApp(app);  // routes to any partitioned endpoint
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

std::unique_ptr<Transport> openTransport(const App& app, const ServeOptions& o,
                                         const Workspace& workspace) {
  if (o.transport.empty() || o.transport == "embedded") {
    const bool partitioned =
        o.partitionCount > 1 ||
        std::any_of(o.partitions.begin(), o.partitions.end(), [](auto p) { return p != 0; });
    if (partitioned) {
      fail(ErrorKind::kPermanent,
           "--partitions and --partition-count need the NATS transport (--transport nats://...)");
    }
    EmbeddedTransportOptions busOptions = o.embedded;
    busOptions.busDirectory = workspace.bus();
    return std::make_unique<EmbeddedTransport>(busOptions);
  }
  return connectNats(app, o);
}

// The partitions of `endpoint` (of `count`) this process owns, as `o` says.
std::vector<std::uint32_t> ownedPartitions(const ServeOptions& o, const std::string& endpoint,
                                           std::uint32_t count) {
  if (o.partitions.empty()) {
    if (count == 1) return {0};
    fail(ErrorKind::kPermanent, "endpoint " + endpoint + " has " + std::to_string(count) +
                                    " partitions: say which this process owns (--partitions, "
                                    "e.g. 0-" +
                                    std::to_string(count - 1) + ")");
  }
  for (std::uint32_t p : o.partitions) {
    if (p >= count) {
      fail(ErrorKind::kPermanent, "endpoint " + endpoint + " has " + std::to_string(count) +
                                      " partitions (0-" + std::to_string(count - 1) +
                                      "): there is no partition " + std::to_string(p));
    }
  }
  return o.partitions;
}

}  // namespace

EntityKeyResolver keyResolverForApp(const App& app) {
  std::vector<Handlers> handlerSets;
  for (const AppEndpoint& e : app.endpoints) handlerSets.push_back(app.handlers(e.name));
  return keyResolverFor(std::move(handlerSets));
}

std::vector<std::uint32_t> parsePartitionList(std::string_view text) {
  auto bad = [&] {
    fail(ErrorKind::kPermanent,
         "not a list of partitions (e.g. 0,2 or 0-3): '" + std::string(text) + "'");
  };
  auto number = [&](std::string_view digits) {
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) bad();
    return n;
  };
  std::vector<std::uint32_t> out;
  std::string_view rest = text;
  while (!rest.empty() || out.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty()) bad();  // a trailing comma
    const std::size_t dash = item.find('-');
    const std::uint32_t first = number(item.substr(0, dash));
    const std::uint32_t last =
        dash == std::string_view::npos ? first : number(item.substr(dash + 1));
    if (last < first || last - first > 4096) bad();
    for (std::uint32_t p = first; p <= last; ++p) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void applyPartitionsFlag(ServeOptions& options, std::string_view text) {
  if (text == "auto") {
    options.partitionsAuto = true;
  } else if (!text.empty()) {
    options.partitions = parsePartitionList(text);
  }
}

int serve(const App& app, const ServeOptions& o) {
  reportFatalSignals();  // a crash names where it happened, in the endpoint's log
  const Workspace workspace{o.dir};
  Host host;  // first: blocks SIGTERM/SIGINT before any thread starts
  // Before the transport: /healthz answers (and /readyz says "starting") while NATS is awaited.
  AdminView view{host};
  std::optional<admin::AdminServer> adminServer;
  if (!o.admin.empty()) {
    adminServer.emplace(o.admin, [&view](std::string_view path) { return view.answer(path); });
    spdlog::info("admin listener on {} (port {}): /metrics /healthz /readyz", o.admin,
                 adminServer->port());
  }
  const std::unique_ptr<Transport> transport = openTransport(app, o, workspace);
  if (!transport) {
    spdlog::info("stopped while waiting for NATS");
    return 0;
  }
  Transport& bus = *transport;

  // Every endpoint of the app subscribes now, served here or not: a published message reaches
  // the subscribers known when it is published, so no start order can lose one.
  for (const AppEndpoint& e : app.endpoints) {
    const Handlers handlers = app.handlers(e.name);
    for (const auto& handler : handlers.all()) {
      if (!handler->replayOnly) bus.subscribe(e.name, handler->messageType);
    }
  }

  const CrashHook crashHook = CrashHook::fromEnvironment();
  auto* nats = dynamic_cast<NatsTransport*>(transport.get());
  if (o.partitionsAuto) {
    if (nats == nullptr) fail(ErrorKind::kPermanent, "--partitions auto needs the NATS transport");
    return serveGroup(app, o, workspace, host, *nats, crashHook);
  }
  std::vector<Served> endpoints;
  std::vector<std::string> labels;
  for (const std::string& name : o.endpoints) {
    const std::uint32_t count = nats != nullptr ? nats->partitionCount(name) : 1;
    for (std::uint32_t partition : ownedPartitions(o, name, count)) {
      Served served;
      served.label = count == 1 ? name : name + ".p" + std::to_string(partition);
      if (count > 1) served.partitionView = std::make_unique<NatsPartition>(*nats, partition);
      EndpointOptions options = o.endpointOptions(name);
      options.storeDirectory = workspace.store(name, partition, count);
      options.faultHook = crashHook.forEndpoint(name);
      Transport& receiveFrom = served.partitionView ? *served.partitionView : bus;
      served.endpoint = std::make_unique<Endpoint>(app.handlers(name), receiveFrom, options);
      host.add(*served.endpoint);
      labels.push_back(served.label);
      endpoints.push_back(std::move(served));
    }
  }
  // The calls endpoint's runner makes the HTTP exchanges its versions ask for.
  std::optional<calls::CallRunner> callRunner;
  if (std::find(o.endpoints.begin(), o.endpoints.end(), kCallsEndpoint) != o.endpoints.end()) {
    calls::CallRunnerOptions callOptions = o.calls;
    callOptions.afterExchange = crashHook.forCallRunner();
    callRunner.emplace(bus, std::move(callOptions));
    host.add([&callRunner](std::stop_token stop) { callRunner->run(std::move(stop)); });
    labels.push_back(std::string(kCallsRunnerQueue));
  }
  spdlog::info("serving {} of app {} in {} (pid {})", fmt::join(labels, ", "), app.name,
               workspace.root.string(), ::getpid());

  // /metrics reads the NATS queue depths on a connection of its own, declared before `forget` so
  // that the view forgets it before it goes (NatsAdmin is for one thread at a time: the admin
  // listener's, under the view's lock).
  std::unique_ptr<NatsAdmin> natsAdmin;
  if (adminServer && nats != nullptr) natsAdmin = std::make_unique<NatsAdmin>(natsConnection(o));
  // The admin view forgets the endpoints before they are destroyed, also when host.run() throws.
  struct Forget {
    AdminView& view;
    ~Forget() { view.stopped(); }
  } forget{view};
  view.serving(endpoints, bus, natsAdmin.get());
  std::uint64_t watchdogMicros = 0;
  if (::sd_watchdog_enabled(0, &watchdogMicros) <= 0) watchdogMicros = 0;
  notifySystemd("READY=1\nSTATUS=serving " + fmt::format("{}", fmt::join(labels, ", ")));

  // Stopped by its stop token, which ~jthread also requests: when host.run() throws (an endpoint
  // stopped loudly), unwinding must not wait for a flag nobody sets. It also keeps systemd's
  // watchdog fed, at half its interval: a process whose threads no longer run is restarted.
  constexpr std::chrono::microseconds kTick = std::chrono::milliseconds(200);
  std::jthread statsWriter([&](const std::stop_token& stop) {
    auto lastPing = std::chrono::steady_clock::now() - std::chrono::hours(1);
    while (!stop.stop_requested()) {
      try {
        for (const Served& e : endpoints) writeStats(workspace, e);
      } catch (const std::exception& e) {  // counters are informative: never end the process
        spdlog::warn("cannot write the stats files: {}", e.what());
      }
      const auto now = std::chrono::steady_clock::now();
      if (watchdogMicros > 0 && now - lastPing >= std::chrono::microseconds(watchdogMicros / 2)) {
        notifySystemd("WATCHDOG=1");
        lastPing = now;
      }
      std::this_thread::sleep_for(watchdogMicros == 0
                                      ? kTick
                                      : std::min<std::chrono::microseconds>(
                                            kTick, std::chrono::microseconds(watchdogMicros / 4)));
    }
  });
  host.run();
  notifySystemd("STOPPING=1");
  statsWriter.request_stop();
  statsWriter.join();
  for (const Served& e : endpoints) writeStats(workspace, e);
  spdlog::info("drained and stopped");
  return 0;
}

}  // namespace idem::tools
