// `idem gateway`: the idempotent HTTP ingress of an app (http/gateway.h, docs/http.md) over the
// workspace's bus (or NATS JetStream), with a thread receiving the replies sent to it.
#include <spdlog/spdlog.h>

#include <charconv>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "http/gateway.h"
#include "http/http_server.h"
#include "http/service.h"
#include "idem/embedded_transport.h"
#include "idem/error.h"
#include "idem/nats_transport.h"
#include "tools/apps.h"
#include "tools/commands.h"
#include "tools/run_config.h"
#include "tools/serve.h"
#include "tools/usage_error.h"
#include "tools/workspace.h"

namespace idem::tools {

namespace {

// The flags, each unset unless given: a given flag overrides the configuration file.
struct GatewayFlags {
  std::string config;
  std::optional<std::string> app, handlers, dir, transport, listen, name, authTokens;
  std::optional<std::string> tlsCert, tlsKey, tlsClientCa;
  std::vector<std::string> endpoints;
  std::optional<unsigned> waitMs, requestTimeoutMs, maxCallAgeS;
  std::optional<std::size_t> maxConnections;
  bool service = false;
  std::string portFile;
};

RunConfig configure(const GatewayFlags& f) {
  RunConfig c = f.config.empty() ? RunConfig{} : loadRunConfig(f.config);
  GatewayConfig& g = c.gateway;
  if (f.app) c.app = *f.app;
  if (f.handlers) c.handlers = *f.handlers;
  if (f.app && !f.handlers) c.handlers.clear();  // as idem run: --app replaces the file's
  if (f.handlers && !f.app) c.app.clear();       // handlers, and --handlers the file's app
  if (f.dir) c.serve.dir = *f.dir;
  if (f.transport) c.serve.transport = *f.transport;
  if (!f.endpoints.empty()) g.endpoints = f.endpoints;
  if (f.listen) g.listen = *f.listen;
  if (f.name) g.name = *f.name;
  if (f.waitMs) g.wait = std::chrono::milliseconds(*f.waitMs);
  if (f.authTokens) g.authTokensFile = *f.authTokens;
  if (f.maxConnections) g.maxConnections = *f.maxConnections;
  if (f.requestTimeoutMs) g.requestTimeout = std::chrono::milliseconds(*f.requestTimeoutMs);
  if (f.service) g.service = true;
  if (f.maxCallAgeS) g.maxCallAge = std::chrono::seconds(*f.maxCallAgeS);
  if (f.tlsCert) g.tlsCertFile = *f.tlsCert;
  if (f.tlsKey) g.tlsKeyFile = *f.tlsKey;
  if (f.tlsClientCa) g.tlsClientCaFile = *f.tlsClientCa;
  const std::string from = f.config.empty() ? "" : " (or in " + f.config + ")";
  if (c.serve.dir.empty()) throw UsageError("say where the workspace is: --dir DIR" + from);
  const bool tls = !g.tlsCertFile.empty() || !g.tlsKeyFile.empty() || !g.tlsClientCaFile.empty();
  if (tls && (g.tlsCertFile.empty() || g.tlsKeyFile.empty())) {
    throw UsageError("HTTPS needs both --tls-cert and --tls-key" + from);
  }
  return c;
}

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

std::unique_ptr<Transport> openBus(const App& app, const ServeOptions& o) {
  if (o.transport.empty() || o.transport == "embedded") {
    EmbeddedTransportOptions bus = o.embedded;
    bus.busDirectory = Workspace{o.dir}.bus();
    return std::make_unique<EmbeddedTransport>(bus);
  }
  NatsTransportOptions nats = natsConnection(o);
  nats.keyResolver = keyResolverForApp(app);
  return std::make_unique<NatsTransport>(nats);
}

int runGateway(const RunConfig& c, const std::string& portFile) {
  const GatewayConfig& g = c.gateway;
  const App app = chooseApp(c.app, c.handlers).only(g.endpoints);
  http::HttpServerOptions serverOptions;
  parseListen(g.listen, serverOptions);
  serverOptions.maxConnections = g.maxConnections;
  serverOptions.requestTimeout = g.requestTimeout;
  if (!g.tlsCertFile.empty()) {
    serverOptions.tls = http::TlsFiles{g.tlsCertFile, g.tlsKeyFile, g.tlsClientCaFile};
  }
  http::GatewayOptions gatewayOptions;
  gatewayOptions.name = g.name;
  gatewayOptions.wait = g.wait;
  if (!g.authTokensFile.empty()) {
    gatewayOptions.bearerTokens = http::readBearerTokens(g.authTokensFile);
  }

  // Requests accepted in one turn of the event loop are published in one commit of the bus.
  http::HttpServer* loop = nullptr;
  gatewayOptions.defer = [&loop](std::function<void()> task) { loop->post(std::move(task)); };
  const std::unique_ptr<Transport> bus = openBus(app, c.serve);
  http::Gateway gateway(app, c.serve.dir, *bus, gatewayOptions);
  serverOptions.maxBodyBytes = gateway.maxBodyBytes();
  // --service: the four-phase routes /v1/{endpoint}/{type}/requests/{id} (http/service.h).
  std::unique_ptr<http::Service> service;
  if (g.service) {
    http::ServiceOptions serviceOptions;
    serviceOptions.replyQueue = g.name;
    serviceOptions.wait = gatewayOptions.wait;
    serviceOptions.maxCallAge = g.maxCallAge;
    serviceOptions.bearerTokens = gatewayOptions.bearerTokens;
    service = std::make_unique<http::Service>(app, c.serve.dir, *bus, serviceOptions);
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
        std::vector<Delivery> batch = bus->receive(g.name, 256, std::chrono::milliseconds(100));
        std::vector<std::uint64_t> tags;
        for (Delivery& d : batch) {
          tags.push_back(d.tag);
          if (auto reply = http::decodeReply(d.envelope)) {
            server.post([&gateway, r = std::move(*reply)]() mutable {
              gateway.replyArrived(std::move(r));
            });
          }
        }
        if (!tags.empty()) bus->ack(g.name, tags);
      } catch (const Error& e) {
        spdlog::warn("receiving replies: {}", e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });

  const std::string where = serverOptions.host + ":" + std::to_string(server.port());
  if (!portFile.empty()) {
    const std::string tmp = portFile + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::filesystem::rename(tmp, portFile);
  }
  spdlog::info(
      "gateway of app {} listening on {}://{}{} (replies to queue {}, pid {})", app.name,
      serverOptions.tls ? "https" : "http", where,
      serverOptions.tls && !g.tlsClientCaFile.empty() ? ", client certificates required" : "",
      g.name, ::getpid());
  server.run(true);
  replies.request_stop();
  replies.join();
  spdlog::info("gateway stopped");
  return 0;
}

}  // namespace

void addGatewayCommand(CLI::App& cli, int& exitCode) {
  auto f = std::make_shared<GatewayFlags>();
  CLI::App* cmd = cli.add_subcommand(
      "gateway", "Serve an app's messages over HTTP with Idempotency-Key (docs/http.md)");
  cmd->add_option("--config", f->config,
                  "a TOML file: app, handlers, dir, transport, [nats] and [gateway] with any of "
                  "the options below (docs/http.md); flags override it")
      ->check(CLI::ExistingFile);
  cmd->add_option("--app", f->app, "bank, orders or provider");
  cmd->add_option("--handlers,--module", f->handlers,
                  "your handler module (.so built with IDEM_MODULE) instead of a built-in app");
  cmd->add_option("--endpoint", f->endpoints,
                  "an endpoint to serve requests to (repeatable; default: every endpoint)");
  cmd->add_option("--dir", f->dir, "workspace: DIR/bus and DIR/stores/<endpoint>");
  cmd->add_option("--listen", f->listen,
                  "HOST:PORT to listen on (default 127.0.0.1:8080; port 0: any free port)");
  cmd->add_option("--transport", f->transport, "embedded (default) or nats://HOST:PORT");
  cmd->add_option("--name", f->name,
                  "the gateway's reply queue, not an endpoint's name (default gateway)");
  cmd->add_option("--wait-ms", f->waitMs,
                  "how long a first request waits for its outcome (default 5000)");
  cmd->add_option("--auth-tokens", f->authTokens,
                  "file of accepted bearer tokens, one per line (default: none required)");
  cmd->add_option("--port-file", f->portFile, "write the bound port to this file once listening");
  cmd->add_option("--max-connections", f->maxConnections,
                  "open connections beyond: 503 (default 1024)");
  cmd->add_option("--request-timeout-ms", f->requestTimeoutMs,
                  "a whole request must arrive within this; idle and slow senders are closed "
                  "(default 10000)");
  cmd->add_flag("--service", f->service,
                "also serve PUT/POST/GET/DELETE /v1/{endpoint}/{type}/requests/{id} "
                "(the four-phase protocol, docs/http.md)");
  cmd->add_option("--max-call-age-s", f->maxCallAgeS,
                  "--service: requests whose id is older are refused (410) and pruned "
                  "(default 86400)");
  cmd->add_option("--tls-cert", f->tlsCert,
                  "serve HTTPS with this PEM certificate chain (with --tls-key)");
  cmd->add_option("--tls-key", f->tlsKey, "the certificate's PEM private key");
  cmd->add_option("--tls-client-ca", f->tlsClientCa,
                  "require client certificates signed by this PEM CA (mutual TLS)");
  cmd->callback([f, &exitCode] { exitCode = runGateway(configure(*f), f->portFile); });
}

}  // namespace idem::tools
