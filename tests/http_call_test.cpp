// The caller half of the four-phase protocol in one process: a payer endpoint asks for calls
// with idem::call(), the calls endpoint and its runner make them against a protocol service
// (a small fake over HttpServer that counts executions and can fail on purpose), and the
// payer receives each result once. Real HTTP over loopback, the embedded bus, real stores.
#include "idem/http_call.h"

#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "calls/call_records.capnp.h"
#include "calls/call_runner.h"
#include "calls/caller_handlers.h"
#include "http/http_server.h"
#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "idem/envelope.capnp.h"
#include "tests/temp_dir.h"
#include "tests/test_messages.capnp.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kObserver = "observer";

Handlers payerHandlers() {
  Handlers handlers("payers");
  auto payers = handlers.entity<Payer>("payer").on<StartCall>(
      {"payer.start", 1}, [](StartCall::Reader m) { return std::string(m.getPayerId()); },
      [](Payer::Builder, StartCall::Reader m, Context& ctx) {
        const std::string body = "{\"amount\":" + std::to_string(m.getAmount()) + "}";
        idem::call(ctx, "svc", "/v1/svc/Charge", "charge")
            .setBody(kj::arrayPtr(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
      });
  onCallResult(payers, {"payer.result", 1},
               [](Payer::Builder payer, wire::HttpCallResult::Reader r, Context& ctx) {
                 payer.setResults(payer.getResults() + 1);
                 payer.setLastOutcome(static_cast<std::uint16_t>(r.getOutcome()));
                 payer.setLastStatus(r.getStatus());
                 auto body = r.getBody();
                 const std::string text(reinterpret_cast<const char*>(body.begin()), body.size());
                 payer.setLastBody(text);
                 auto seen = ctx.send<CallSeen>(kObserver);
                 seen.setPayerId(std::string(ctx.entityKey()));
                 seen.setStatus(r.getStatus());
                 seen.setBody(text);
               });
  return handlers;
}

// A protocol service (docs/http.md, "Calling an idem endpoint as a service") reduced to what
// the caller relies on, in memory, counting what it ran. Failures on purpose: the first
// `failPuts` PUTs answer 503 before storing; the first `loseAnswers` first POSTs run the
// request and then answer 503 (the caller never learns the outcome of that attempt).
struct FakeService {
  struct Token {
    std::string body;
    bool posted = false;
    std::string outcome;
  };
  std::mutex lock;
  std::map<std::string, Token> tokens;
  std::set<std::string> tombstones;
  std::map<std::string, int> executions;  // by request id
  int failPuts = 0;
  int loseAnswers = 0;
  int puts = 0, posts = 0, deletes = 0;

  http::HttpResponse answer(const http::HttpRequest& request) {
    std::lock_guard guard(lock);
    const std::string prefix = "/v1/svc/Charge/requests/";
    if (request.target.rfind(prefix, 0) != 0) return http::problem(404, "unknown-route", "", "");
    const std::string id = request.target.substr(prefix.size());
    if (request.method == "PUT") ++puts;
    if (request.method == "POST") ++posts;
    if (request.method == "DELETE") ++deletes;
    if (tombstones.count(id) != 0 && request.method != "DELETE") {
      return http::problem(410, "request-deleted", "deleted", id);
    }
    auto it = tokens.find(id);
    if (request.method == "PUT") {
      if (failPuts > 0) {
        --failPuts;
        return http::problem(503, "unavailable", "try again", "");
      }
      if (it == tokens.end()) {
        tokens[id].body = request.body;
        return {201, {}, {}};
      }
      if (it->second.body != request.body) return http::problem(409, "request-conflict", "", "");
      return {200, {}, {}};
    }
    if (request.method == "POST") {
      if (it == tokens.end()) return http::problem(409, "request-not-put", "", id);
      if (!it->second.posted) {
        it->second.posted = true;
        const int n = ++executions[id];
        it->second.outcome =
            "{\"charged\":" + it->second.body + ",\"run\":" + std::to_string(n) + "}";
        if (loseAnswers > 0) {
          --loseAnswers;
          return http::problem(503, "unavailable", "lost", "");
        }
      }
      return http::HttpResponse{200, {}, it->second.outcome}
          .with("Content-Type", "application/json")
          .with("Idem-Outcome-Status", "200")
          .with("Idem-Reply-Type", "Charged");
    }
    if (request.method == "DELETE") {
      if (it == tokens.end() && tombstones.count(id) == 0) {
        return http::problem(404, "unknown-request", "", id);
      }
      tombstones.insert(id);
      tokens.erase(id);
      return {204, {}, {}};
    }
    return http::problem(405, "method-not-allowed", "", "");
  }
};

// The service, on a thread of its own.
struct ServiceThread {
  FakeService service;
  http::HttpServer server{{},
                          [this](const http::HttpRequest& r, http::HttpServer::Respond respond) {
                            respond(service.answer(r));
                          }};
  std::jthread thread{[this] { server.run(false); }};
  ~ServiceThread() {
    server.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server.port()); }
};

// The payer and calls endpoints and the runner over one embedded bus, each on a thread.
struct CallingWorld {
  TempDir dir{"idem-calls"};
  EmbeddedTransport bus;
  Endpoint payers;
  Endpoint calls;
  calls::CallRunner runner;
  std::vector<std::jthread> threads;

  static EmbeddedTransportOptions busOptions(const TempDir& d) {
    EmbeddedTransportOptions o;
    o.busDirectory = d / "bus";
    o.durable = false;
    return o;
  }
  static EndpointOptions storeOptions(const TempDir& d, const char* name) {
    EndpointOptions o;
    o.storeDirectory = d / name;
    o.durable = false;
    o.retry.firstDelay = 10ms;
    return o;
  }
  static Handlers callerHandlers() {
    Handlers h{std::string(kCallsEndpoint)};
    calls::registerCallerHandlers(h);
    return h;
  }
  static calls::CallRunnerOptions runnerOptions(const std::string& url) {
    calls::CallRunnerOptions o;
    o.services["svc"] = url;
    o.requestTimeout = 5s;
    return o;
  }

  explicit CallingWorld(const std::string& serviceUrl)
      : bus(busOptions(dir)),
        payers(payerHandlers(), bus, storeOptions(dir, "payers")),
        calls(callerHandlers(), bus, storeOptions(dir, "calls")),
        runner(bus, runnerOptions(serviceUrl)) {
    threads.emplace_back([this](std::stop_token s) { payers.run(s); });
    threads.emplace_back([this](std::stop_token s) { calls.run(s); });
    threads.emplace_back([this](std::stop_token s) { runner.run(s); });
  }
  ~CallingWorld() {
    for (auto& t : threads) t.request_stop();
    threads.clear();
  }

  void start(const std::string& payer, std::uint32_t amount, const std::string& key) {
    Bytes envelope = edgeMessage<StartCall>(
        {MessageId::forEdge("test", key), "payers", std::chrono::system_clock::now()},
        [&](StartCall::Builder m) {
          m.setPayerId(payer);
          m.setAmount(amount);
        });
    bus.publish(
        std::vector<Outbound>{edgeOutbound({MessageId::forEdge("test", key), "payers"},
                                           capnp::typeId<StartCall>(), std::move(envelope))});
  }

  // The CallSeen messages on the observer queue until `count` distinct ones arrived (or
  // `wait` passed), by message id: payer id and body of each.
  std::map<std::string, std::pair<std::string, std::string>> observe(
      std::size_t count, std::chrono::milliseconds wait = 20s) {
    std::map<std::string, std::pair<std::string, std::string>> seen;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
      std::vector<std::uint64_t> acks;
      for (const Delivery& d : bus.receive(kObserver, 64, 100ms)) {
        CanonicalReader envelope(d.envelope, "envelope");
        auto e = envelope.root<wire::Envelope>();
        auto payload = e.getPayload();
        CanonicalReader message(
            std::span(reinterpret_cast<const std::byte*>(payload.begin()), payload.size()),
            "payload");
        auto m = message.root<CallSeen>();
        auto id = e.getId();
        seen[std::string(reinterpret_cast<const char*>(id.begin()), id.size())] = {m.getPayerId(),
                                                                                   m.getBody()};
        acks.push_back(d.tag);
      }
      if (!acks.empty()) bus.ack(kObserver, acks);
    }
    return seen;
  }
};

template <typename Done>
bool eventually(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a handler's call runs once on the service and its result reaches the entity once",
          "[http][calls]") {
  ServiceThread service;
  service.service.failPuts = 2;     // the first PUTs find the service unavailable
  service.service.loseAnswers = 3;  // and three first POSTs run but their answers are lost
  CallingWorld world(service.url());
  for (int i = 0; i < 10; ++i) {
    world.start("p" + std::to_string(i), 100 + i, "start-" + std::to_string(i));
  }
  world.start("p0", 100, "start-0");  // a retried submission: the same id, no second call

  const auto seen = world.observe(10);
  REQUIRE(seen.size() == 10);
  std::set<std::string> payers;
  for (const auto& [id, what] : seen) {
    payers.insert(what.first);
    const std::string amount = std::to_string(100 + std::stoi(what.first.substr(1)));
    CHECK(what.second == "{\"charged\":{\"amount\":" + amount + "},\"run\":1}");
  }
  CHECK(payers.size() == 10);
  // Every call was deleted once its result was committed: the service holds nothing but
  // tombstones, and ran each request exactly once.
  REQUIRE(eventually([&] {
    std::lock_guard guard(service.service.lock);
    return service.service.tokens.empty() && service.service.tombstones.size() == 10;
  }));
  CHECK(world.observe(1, 500ms).empty());  // and no payer received a second result
  std::lock_guard guard(service.service.lock);
  CHECK(service.service.executions.size() == 10);
  for (const auto& [id, n] : service.service.executions) CHECK(n == 1);
  CHECK(service.service.puts >= 12);   // two refused with 503, then one each
  CHECK(service.service.posts >= 13);  // three answers lost, then asked again
}

TEST_CASE("a PUT re-sent after the call was deleted meets the tombstone and runs nothing",
          "[http][calls]") {
  ServiceThread service;
  CallingWorld world(service.url());
  world.start("late", 7, "start-late");
  REQUIRE(world.observe(1).size() == 1);
  std::string callHex;
  REQUIRE(eventually([&] {
    std::lock_guard guard(service.service.lock);
    if (service.service.tombstones.size() != 1) return false;
    callHex = *service.service.tombstones.begin();
    return true;
  }));

  // The runner receives the call's PUT once more (a re-emission, a copy delayed in a queue).
  const MessageId callId = *MessageId::fromHex(callHex);
  EdgeAddress address{MessageId::forEdge("test", "late-put"), kCallsRunnerQueue,
                      std::chrono::system_clock::now()};
  Bytes envelope = edgeMessage<calls::records::CallExchange>(
      address, [&](calls::records::CallExchange::Builder x) {
        x.setStep(calls::records::Step::PUT);
        auto request = x.initRequest();
        request.setCallId(kj::arrayPtr(callId.bytes.data(), callId.bytes.size()));
        request.setService("svc");
        request.setPath("/v1/svc/Charge");
        request.setReplyTo("payers");
        request.setEntityKey("late");
        request.setBody(kj::StringPtr("{\"amount\":7}").asBytes());
      });
  world.bus.publish(std::vector<Outbound>{
      edgeOutbound(address, capnp::typeId<calls::records::CallExchange>(), std::move(envelope))});
  REQUIRE(eventually([&] {
    std::lock_guard guard(service.service.lock);
    return service.service.puts == 2;
  }));
  CHECK(world.observe(1, 500ms).empty());  // the payer received nothing more
  std::lock_guard guard(service.service.lock);
  CHECK(service.service.executions.at(callHex) == 1);
  CHECK(service.service.tokens.empty());
}

TEST_CASE("a call to a service without a URL goes to the runner's error queue, named",
          "[http][calls]") {
  CallingWorld world("http://127.0.0.1:1");
  calls::CallRunnerOptions none;
  // The world's runner knows "svc"; this payer calls "svc" too, so ask a runner of its own
  // that knows no service to take the exchange first: stop the world's runner's thread.
  world.threads.back().request_stop();
  world.threads.pop_back();
  calls::CallRunner blind(world.bus, none);
  world.start("nourl", 1, "start-nourl");
  REQUIRE(eventually([&] { return blind.runOnce(50ms) > 0; }));
  const auto errors = world.bus.errors(kCallsRunnerQueue);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].report.reason == "no URL for service 'svc'");
  CHECK_THAT(errors[0].report.detail, Catch::Contains("--call-service svc=URL"));
}

}  // namespace idem::test
