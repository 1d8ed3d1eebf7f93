// `idem gateway`: the idempotent HTTP ingress of an app (http/gateway.h, docs/http.md) over the
// workspace's bus (or NATS JetStream), with a thread receiving the replies sent to it.
#include <spdlog/spdlog.h>

#include <charconv>
#include <fstream>
#include <memory>
#include <thread>

#include "http/gateway.h"
#include "http/http_server.h"
#include "http/service.h"
#include "idem/embedded_transport.h"
#include "idem/error.h"
#include "idem/nats_transport.h"
#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/serve.h"
#include "tools/workspace.h"

namespace idem::tools {

namespace {

struct GatewayCommandOptions {
  std::string app;
  std::string module;
  std::vector<std::string> endpoints;  // empty: every endpoint of the app
  std::string dir;
  std::string listen = "127.0.0.1:8080";
  std::string transport;
  std::string name = "gateway";
  unsigned waitMs = 5000;
  std::string authTokens;
  std::string portFile;
  std::size_t maxConnections = 1024;
  unsigned requestTimeoutMs = 10'000;
  bool service = false;
  unsigned maxCallAgeS = 86'400;
};

void parseListen(const std::string& text, http::HttpServerOptions& o) {
  const auto colon = text.rfind(':');
  unsigned port = 0;
  const char* end = text.data() + text.size();
  if (colon == std::string::npos ||
      std::from_chars(text.data() + colon + 1, end, port).ptr != end || port > 65535) {
    fail(ErrorKind::kPermanent, "--listen wants HOST:PORT (e.g. 127.0.0.1:8080), not " + text);
  }
  o.host = text.substr(0, colon);
  if (o.host.size() > 1 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = static_cast<std::uint16_t>(port);
}

std::unique_ptr<Transport> openBus(const App& app, const GatewayCommandOptions& o) {
  if (o.transport.empty() || o.transport == "embedded") {
    EmbeddedTransportOptions bus;
    bus.busDirectory = Workspace{o.dir}.bus();
    return std::make_unique<EmbeddedTransport>(bus);
  }
  NatsTransportOptions nats = natsOptionsFor(o.transport);
  nats.keyResolver = keyResolverForApp(app);
  return std::make_unique<NatsTransport>(nats);
}

int runGateway(const GatewayCommandOptions& o) {
  const App app = chooseApp(o.app, o.module).only(o.endpoints);
  http::HttpServerOptions serverOptions;
  parseListen(o.listen, serverOptions);
  serverOptions.maxConnections = o.maxConnections;
  serverOptions.requestTimeout = std::chrono::milliseconds(o.requestTimeoutMs);
  http::GatewayOptions gatewayOptions;
  gatewayOptions.name = o.name;
  gatewayOptions.wait = std::chrono::milliseconds(o.waitMs);
  if (!o.authTokens.empty()) gatewayOptions.bearerTokens = http::readBearerTokens(o.authTokens);

  // Requests accepted in one turn of the event loop are published in one commit of the bus.
  http::HttpServer* loop = nullptr;
  gatewayOptions.defer = [&loop](std::function<void()> task) { loop->post(std::move(task)); };
  const std::unique_ptr<Transport> bus = openBus(app, o);
  http::Gateway gateway(app, o.dir, *bus, gatewayOptions);
  serverOptions.maxBodyBytes = gateway.maxBodyBytes();
  // --service: the four-phase routes /v1/{endpoint}/{type}/requests/{id} (http/service.h).
  std::unique_ptr<http::Service> service;
  if (o.service) {
    http::ServiceOptions serviceOptions;
    serviceOptions.replyQueue = o.name;
    serviceOptions.wait = gatewayOptions.wait;
    serviceOptions.maxCallAge = std::chrono::seconds(o.maxCallAgeS);
    serviceOptions.bearerTokens = gatewayOptions.bearerTokens;
    service = std::make_unique<http::Service>(app, o.dir, *bus, serviceOptions);
  }
  http::HttpServer server(serverOptions, [&gateway, &service](const http::HttpRequest& request,
                                                              http::HttpServer::Respond respond) {
    if (service && http::Service::serves(request.target)) {
      return service->handle(request, std::move(respond));
    }
    gateway.handle(request, std::move(respond));
  });
  loop = &server;
  server.every(std::chrono::milliseconds(5), [&gateway, &service] {
    gateway.tick();
    if (service) service->tick();
  });

  // Replies to the gateway's queue: posted to the event loop, then acked (the stores, not these
  // copies, are what a retry is answered from, so a reply lost here only costs a store read).
  std::jthread replies([&](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      try {
        std::vector<Delivery> batch = bus->receive(o.name, 256, std::chrono::milliseconds(100));
        std::vector<std::uint64_t> tags;
        for (Delivery& d : batch) {
          tags.push_back(d.tag);
          if (auto reply = http::decodeReply(d.envelope)) {
            server.post([&gateway, r = std::move(*reply)]() mutable {
              gateway.replyArrived(std::move(r));
            });
          }
        }
        if (!tags.empty()) bus->ack(o.name, tags);
      } catch (const Error& e) {
        spdlog::warn("receiving replies: {}", e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });

  const std::string where = serverOptions.host + ":" + std::to_string(server.port());
  if (!o.portFile.empty()) {
    const std::string tmp = o.portFile + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::filesystem::rename(tmp, o.portFile);
  }
  spdlog::info("gateway of app {} listening on http://{} (replies to queue {}, pid {})", app.name,
               where, o.name, ::getpid());
  server.run(true);
  replies.request_stop();
  replies.join();
  spdlog::info("gateway stopped");
  return 0;
}

}  // namespace

void addGatewayCommand(CLI::App& cli, int& exitCode) {
  auto o = std::make_shared<GatewayCommandOptions>();
  CLI::App* cmd = cli.add_subcommand(
      "gateway", "Serve an app's messages over HTTP with Idempotency-Key (docs/http.md)");
  cmd->add_option("--app", o->app, "bank, orders or provider");
  cmd->add_option("--handlers,--module", o->module,
                  "your handler module (.so built with IDEM_MODULE) instead of a built-in app");
  cmd->add_option("--endpoint", o->endpoints,
                  "an endpoint to serve requests to (repeatable; default: every endpoint)");
  cmd->add_option("--dir", o->dir, "workspace: DIR/bus and DIR/stores/<endpoint>")->required();
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--transport", o->transport, "embedded (default) or nats://HOST:PORT");
  cmd->add_option("--name", o->name, "the gateway's reply queue (not an endpoint's name)")
      ->capture_default_str();
  cmd->add_option("--wait-ms", o->waitMs, "how long a first request waits for its outcome")
      ->capture_default_str();
  cmd->add_option("--auth-tokens", o->authTokens,
                  "file of accepted bearer tokens, one per line (default: none required)");
  cmd->add_option("--port-file", o->portFile, "write the bound port to this file once listening");
  cmd->add_option("--max-connections", o->maxConnections, "open connections beyond: 503")
      ->capture_default_str();
  cmd->add_option("--request-timeout-ms", o->requestTimeoutMs,
                  "a whole request must arrive within this (idle and slow senders are closed)")
      ->capture_default_str();
  cmd->add_flag("--service", o->service,
                "also serve PUT/POST/GET/DELETE /v1/{endpoint}/{type}/requests/{id} "
                "(the four-phase protocol, docs/http.md)");
  cmd->add_option("--max-call-age-s", o->maxCallAgeS,
                  "--service: requests whose id is older are refused (410) and pruned")
      ->capture_default_str();
  cmd->callback([o, &exitCode] { exitCode = runGateway(*o); });
}

}  // namespace idem::tools
