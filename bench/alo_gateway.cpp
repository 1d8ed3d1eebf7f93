// idem-alo-gateway: the baseline of bench/http_bench.sh's http-ingress-vs-alo row. An
// at-least-once HTTP ingress on the same server code as `idem gateway` (http/http_server.h, the
// same JSON mapping, the same group commit of one event-loop turn's requests into the bus):
// POST /v1/{endpoint}/{MessageType} is published with a fresh id and answered 202 once the bus
// committed it. No Idempotency-Key, no store read, no wait for an outcome: what a plain
// "publish and accept" ingress costs. Not installed; a benchmark tool only.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "http/http_server.h"
#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/error.h"
#include "tools/apps.h"
#include "tools/json_messages.h"
#include "tools/workspace.h"

namespace {

using idem::http::HttpRequest;
using idem::http::HttpResponse;
using idem::http::HttpServer;

struct Route {
  std::string endpoint;
  capnp::StructSchema schema;
};

std::map<std::string, Route, std::less<>> routesOf(const idem::tools::App& app) {
  std::map<std::string, Route, std::less<>> routes;
  for (const idem::tools::AppEndpoint& e : app.endpoints) {
    const idem::Handlers handlers = app.handlers(e.name);
    for (const auto& h : handlers.all()) {
      if (h->replayOnly) continue;
      routes.emplace("/v1/" + e.name + "/" + h->messageSchema.getShortDisplayName().cStr(),
                     Route{e.name, h->messageSchema});
    }
  }
  return routes;
}

// Requests accepted in one turn of the event loop, published in one commit, then answered.
class GroupPublisher {
 public:
  GroupPublisher(idem::Transport& bus, HttpServer*& loop) : bus_(bus), loop_(loop) {}

  void accept(idem::Outbound message, HttpServer::Respond respond) {
    messages_.push_back(std::move(message));
    waiters_.push_back(std::move(respond));
    if (scheduled_) return;
    scheduled_ = true;
    loop_->post([this] { publish(); });
  }

 private:
  void publish() {
    scheduled_ = false;
    std::vector<idem::Outbound> messages = std::move(messages_);
    std::vector<HttpServer::Respond> waiters = std::move(waiters_);
    messages_.clear();
    waiters_.clear();
    int status = 202;
    try {
      bus_.publish(messages);
    } catch (const idem::Error&) {
      status = 503;
    }
    for (HttpServer::Respond& respond : waiters) {
      HttpResponse r;
      r.status = status;
      respond(std::move(r));
    }
  }

  idem::Transport& bus_;
  HttpServer*& loop_;
  std::vector<idem::Outbound> messages_;
  std::vector<HttpServer::Respond> waiters_;
  bool scheduled_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli("at-least-once HTTP ingress: the baseline of bench/http_bench.sh");
  std::string appName = "bank";
  std::string dir;
  std::string portFile;
  cli.add_option("--app", appName, "bank or orders");
  cli.add_option("--dir", dir, "workspace (its bus: DIR/bus)")->required();
  cli.add_option("--port-file", portFile, "write the bound port here once listening")->required();
  CLI11_PARSE(cli, argc, argv);

  const idem::tools::App& app = idem::tools::findApp(appName);
  const auto routes = routesOf(app);
  idem::EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = idem::tools::Workspace{dir}.bus();
  idem::EmbeddedTransport bus(busOptions);
  HttpServer* loop = nullptr;
  GroupPublisher publisher(bus, loop);
  std::uint64_t sequence = 0;  // requests only arrive on the event loop's thread
  HttpServer server({}, [&](const HttpRequest& request, HttpServer::Respond respond) {
    const auto route = routes.find(request.target);
    if (request.method != "POST" || route == routes.end()) {
      return respond(idem::http::problem(404, "unknown-route", "Not Found", request.target));
    }
    try {
      const idem::Words payload =
          idem::tools::canonicalFromJson(route->second.schema, request.body);
      const idem::EdgeAddress address{idem::MessageId::forEdge("alo", std::to_string(sequence++)),
                                      route->second.endpoint,
                                      std::chrono::system_clock::now(),
                                      {},
                                      {}};
      const std::uint64_t type = route->second.schema.getProto().getId();
      publisher.accept(
          idem::edgeOutbound(address, type, idem::edgeEnvelope(address, type, payload)),
          std::move(respond));
    } catch (const idem::Error& e) {
      respond(idem::http::problem(400, "invalid-message", "Bad Request", e.what()));
    }
  });
  loop = &server;
  {
    const std::string tmp = portFile + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::filesystem::rename(tmp, portFile);
  }
  server.run(true);
  return 0;
}
