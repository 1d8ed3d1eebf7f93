// The HTTP gateway (`idem gateway`, docs/http.md) as real processes over loopback: the bank's
// endpoints under `idem run`, the gateway under test, a libcurl client; executions are counted
// in the transfers endpoint's store.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "http/gateway.h"
#include "http/idempotency_key.h"
#include "idem/embedded_transport.h"
#include "tests/bank_over_http.h"
#include "tests/http_client.h"
#include "tests/temp_dir.h"
#include "tools/apps.h"
#include "tools/store_view.h"
#include "tools/supervisor.h"

namespace idem::test {

namespace {

const std::string kOpenA = R"({"accountId":"A","initialBalance":"10000"})";
const std::string kOpenB = R"({"accountId":"B","initialBalance":"0"})";

std::string transfer(const std::string& id, int amount) {
  return R"({"transferId":")" + id + R"(","from":"A","to":"B","amount":")" +
         std::to_string(amount) + R"("})";
}

void openAccounts(BankOverHttp& bank) {
  REQUIRE(bank.post("/v1/accounts/OpenAccount", "\"open-A\"", kOpenA).status == 204);
  REQUIRE(bank.post("/v1/accounts/OpenAccount", "open-B", kOpenB).status == 204);
}

// `answer` (to StartTransfer `transferId` with key `key`) accepted the transfer; one more retry
// is answered with the same bytes, marked replayed; StartTransfer ran once.
void checkAcceptedOnce(BankOverHttp& bank, const HttpResult& answer, const std::string& key,
                       const std::string& transferId, int amount) {
  INFO(answer.status << " " << answer.body << " " << answer.error);
  REQUIRE(answer.status == 200);
  CHECK(nlohmann::json::parse(answer.body).at("accepted") == true);
  const HttpResult again =
      bank.post("/v1/transfers/StartTransfer", key, transfer(transferId, amount));
  CHECK(again.status == 200);
  CHECK(again.body == answer.body);
  CHECK(again.header("idempotent-replayed") == "true");
  CHECK(bank.startTransferExecutions(transferId) == 1);
}

}  // namespace

TEST_CASE("Idempotency-Key accepts sf-strings and bare tokens, and nothing else", "[http][unit]") {
  CHECK(http::parseIdempotencyKey(R"("abc-1")") == "abc-1");
  CHECK(http::parseIdempotencyKey(R"( "a\"b\\c" )") == R"(a"b\c)");
  CHECK(http::parseIdempotencyKey("8e03978e-40d5-43e8") == "8e03978e-40d5-43e8");
  CHECK_FALSE(http::parseIdempotencyKey(""));
  CHECK_FALSE(http::parseIdempotencyKey(R"("")"));
  CHECK_FALSE(http::parseIdempotencyKey(R"("open)"));
  CHECK_FALSE(http::parseIdempotencyKey(R"("a\nb")"));
  CHECK_FALSE(http::parseIdempotencyKey("two words"));
  CHECK_FALSE(http::parseIdempotencyKey(std::string(256, 'k')));
  CHECK(http::parseIdempotencyKey(std::string(255, 'k')));
}

TEST_CASE("the same Idempotency-Key on two routes gives two message ids", "[http][unit]") {
  CHECK(http::requestId("transfers", "StartTransfer", "k") ==
        http::requestId("transfers", "StartTransfer", "k"));
  CHECK(http::requestId("transfers", "StartTransfer", "k") !=
        http::requestId("accounts", "OpenAccount", "k"));
}

http::HttpRequest openAccount(const std::string& key) {
  http::HttpRequest r;
  r.method = "POST";
  r.target = "/v1/accounts/OpenAccount";
  r.headers = {{"Idempotency-Key", "\"" + key + "\""}, {"Content-Type", "application/json"}};
  r.body = R"({"accountId":")" + key + R"(","initialBalance":"5"})";
  return r;
}

TEST_CASE("first requests accepted in one turn of the event loop are published in one commit",
          "[http][unit]") {
  TempDir dir("idem-http-group");
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = dir / "w" / "bus";
  EmbeddedTransport bus(busOptions);
  std::vector<std::function<void()>> loop;  // the event loop's queue, run by hand
  http::GatewayOptions options;
  options.defer = [&loop](std::function<void()> task) { loop.push_back(std::move(task)); };
  const tools::App app = tools::findApp("bank");
  http::Gateway gateway(app, dir / "w", bus, options);
  std::vector<int> answered;
  const auto respond = [&answered](http::HttpResponse r) { answered.push_back(r.status); };

  for (int i = 0; i < 5; ++i) gateway.handle(openAccount("g" + std::to_string(i)), respond);
  CHECK(bus.queue("accounts").ready == 0);  // accepted, not yet published
  REQUIRE(loop.size() == 1);                // one publication scheduled for all five
  gateway.handle(openAccount("g0"), respond);
  CHECK(answered == std::vector<int>{409});  // a retry while the first is in flight

  const BusCommits before = bus.commits();
  loop.front()();
  CHECK(bus.commits().commits - before.commits == 1);
  CHECK(bus.queue("accounts").ready == 5);
  CHECK(answered.size() == 1);  // the five wait for their outcomes
  gateway.handle(openAccount("g5"), respond);
  CHECK(loop.size() == 2);  // the next turn's requests get a publication of their own
}

TEST_CASE("a POST retried with the same Idempotency-Key runs once and replays the reply's bytes",
          "[http][gateway][process]") {
  BankOverHttp bank;
  bank.startEndpoints();
  bank.startGateway();
  openAccounts(bank);

  const HttpResult first = bank.post("/v1/transfers/StartTransfer", "\"t1\"", transfer("t1", 100));
  INFO(first.body);
  REQUIRE(first.status == 200);
  CHECK(first.header("content-type") == "application/json");
  CHECK(first.header("idem-reply-type") == "TransferAcceptance");
  CHECK(first.header("idempotent-replayed").empty());
  const auto reply = nlohmann::json::parse(first.body);
  CHECK(reply.at("transferId") == "t1");
  CHECK(reply.at("accepted") == true);

  for (int retry = 0; retry < 3; ++retry) {
    const HttpResult again =
        bank.post("/v1/transfers/StartTransfer", "\"t1\"", transfer("t1", 100));
    CHECK(again.status == 200);
    CHECK(again.body == first.body);
    CHECK(again.header("idempotent-replayed") == "true");
    CHECK(again.header("idem-message-id") == first.header("idem-message-id"));
  }
  // GET by id answers the same outcome.
  const HttpResult got =
      httpCall("GET", bank.url("/v1/requests/" + first.header("idem-message-id")));
  CHECK(got.status == 200);
  CHECK(got.body == first.body);
  CHECK(bank.startTransferExecutions("t1") == 1);

  // A reply that says no is an outcome too, replayed alike.
  const HttpResult same = bank.post("/v1/transfers/StartTransfer", "t-same",
                                    R"({"transferId":"t-same","from":"A","to":"A","amount":"5"})");
  REQUIRE(same.status == 200);
  CHECK(nlohmann::json::parse(same.body).at("accepted") == false);
  CHECK(nlohmann::json::parse(same.body).at("reason") == "sameAccount");
}

TEST_CASE("concurrent POSTs with one Idempotency-Key execute once", "[http][gateway][process]") {
  BankOverHttp bank;
  bank.startEndpoints();
  bank.startGateway();
  openAccounts(bank);

  constexpr int kClients = 8;
  std::vector<HttpResult> results(kClients);
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back([&, i] {
        results[i] = bank.post("/v1/transfers/StartTransfer", "\"t2\"", transfer("t2", 7));
      });
    }
  }
  int firsts = 0;
  std::string body;
  for (const HttpResult& r : results) {
    INFO(r.status << " " << r.body << " " << r.error);
    CHECK((r.status == 200 || r.status == 409));
    if (r.status == 409) {
      CHECK(r.header("content-type") == "application/problem+json");
      CHECK(!r.header("retry-after").empty());
    }
    if (r.status == 200) {
      if (body.empty()) body = r.body;
      CHECK(r.body == body);
      firsts += r.header("idempotent-replayed").empty();
    }
  }
  CHECK(firsts <= 1);  // the others were 409 or replays
  const HttpResult after = bank.post("/v1/transfers/StartTransfer", "\"t2\"", transfer("t2", 7));
  CHECK(after.status == 200);
  CHECK(after.header("idempotent-replayed") == "true");
  if (!body.empty()) CHECK(after.body == body);
  CHECK(bank.startTransferExecutions("t2") == 1);
}

TEST_CASE("the gateway refuses bad requests with problem documents", "[http][gateway][process]") {
  BankOverHttp bank;
  bank.startEndpoints();
  bank.startGateway();
  openAccounts(bank);
  REQUIRE(bank.post("/v1/transfers/StartTransfer", "k1", transfer("t3", 1)).status == 200);

  auto isProblem = [](const HttpResult& r, long status, const std::string& type) {
    INFO(r.status << " " << r.body);
    CHECK(r.status == status);
    CHECK(r.header("content-type") == "application/problem+json");
    const auto doc = nlohmann::json::parse(r.body);
    CHECK(doc.at("status") == status);
    CHECK(doc.at("type") == "https://idem.dev/problems/" + type);
    return doc.at("detail").get<std::string>();
  };
  // The same key with another body: 422, and nothing ran.
  isProblem(bank.post("/v1/transfers/StartTransfer", "k1", transfer("t3", 2)), 422,
            "idempotency-key-reused");
  isProblem(bank.post("/v1/transfers/StartTransfer", "", transfer("t4", 1)), 400,
            "missing-idempotency-key");
  isProblem(bank.post("/v1/transfers/StartTransfer", "\"unterminated", transfer("t4", 1)), 400,
            "invalid-idempotency-key");
  isProblem(bank.post("/v1/nowhere/StartTransfer", "k", transfer("t4", 1)), 404, "unknown-route");
  isProblem(bank.post("/v1/accounts/StartTransfer", "k", transfer("t4", 1)), 404, "unknown-route");
  const std::string misspelt =
      isProblem(bank.post("/v1/transfers/StartTransfer", "k5",
                          R"({"transferId":"t5","from":"A","to":"B","amout":"1"})"),
                400, "invalid-message");
  CHECK(misspelt.find("amout") != std::string::npos);
  isProblem(bank.post("/v1/transfers/StartTransfer", "k6", "{not json"), 400, "invalid-message");
  isProblem(bank.post("/v1/transfers/StartTransfer", "k7",
                      R"({"transferId":")" + std::string(2 << 20, 'x') + R"("})"),
            413, "body-too-large");
  isProblem(httpCall("GET", bank.url("/v1/requests/nothex")), 404, "unknown-request");
  isProblem(httpCall("GET", bank.url("/v1/requests/" + std::string(32, '0'))), 404,
            "unknown-request");
  isProblem(httpCall("DELETE", bank.url("/v1/transfers/StartTransfer")), 405, "method-not-allowed");
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back("X-Filler-" + std::to_string(i) + ": x");
  isProblem(httpCall("GET", bank.url("/v1/requests/x"), many), 431, "headers-too-many");
  isProblem(httpCall("GET", bank.url("/v1/requests/x"), {"X-Big: " + std::string(20000, 'y')}), 431,
            "headers-too-large");

  CHECK(bank.startTransferExecutions("t3") == 1);
  CHECK(bank.startTransferExecutions("t4") == 0);
  CHECK(bank.startTransferExecutions("t5") == 0);
  // The gateway still serves.
  CHECK(bank.post("/v1/transfers/StartTransfer", "k1", transfer("t3", 1)).status == 200);
}

TEST_CASE("bearer tokens from a file are required when given", "[http][gateway][process]") {
  TempDir tokens("idem-http-tokens");
  std::ofstream(tokens / "tokens") << "# the test's token\nsecret-1\n";
  BankOverHttp bank({"--auth-tokens", (tokens / "tokens").string()});
  bank.startEndpoints();
  bank.startGateway();
  const HttpResult none = bank.post("/v1/accounts/OpenAccount", "k", kOpenA);
  CHECK(none.status == 401);
  CHECK(none.header("www-authenticate") == "Bearer");
  CHECK(httpCall("POST", bank.url("/v1/accounts/OpenAccount"),
                 {"Idempotency-Key: k", "Authorization: Bearer wrong"}, kOpenA)
            .status == 401);
  CHECK(httpCall("POST", bank.url("/v1/accounts/OpenAccount"),
                 {"Idempotency-Key: k", "Authorization: Bearer secret-1",
                  "Content-Type: application/json"},
                 kOpenA)
            .status == 204);
}

TEST_CASE(
    "a request not answered within the wait gets 202 and a Location that later holds its "
    "outcome; a retry meanwhile gets 409",
    "[http][gateway][process]") {
  BankOverHttp bank({"--wait-ms", "100"});
  bank.startGateway();  // no endpoint runs yet: the request waits in the bus
  const HttpResult first = bank.post("/v1/accounts/OpenAccount", "open-A", kOpenA);
  REQUIRE(first.status == 202);
  const std::string location = first.header("location");
  CHECK(location == "/v1/requests/" + first.header("idem-message-id"));
  CHECK(!first.header("retry-after").empty());
  const HttpResult retry = bank.post("/v1/accounts/OpenAccount", "open-A", kOpenA);
  CHECK(retry.status == 409);
  CHECK(!retry.header("retry-after").empty());
  CHECK(httpCall("GET", bank.url(location)).status == 202);

  bank.startEndpoints();
  HttpResult outcome;
  for (int i = 0; i < 3000; ++i) {  // until the endpoint processed it
    outcome = httpCall("GET", bank.url(location));
    if (outcome.status != 202) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(outcome.status == 204);
  const HttpResult replayed = bank.post("/v1/accounts/OpenAccount", "open-A", kOpenA);
  CHECK(replayed.status == 204);
  CHECK(replayed.header("idempotent-replayed") == "true");
}

TEST_CASE(
    "kill -9 of the gateway between accepting a request and answering it, then a retry with "
    "the same key: one execution",
    "[http][gateway][process][crash]") {
  BankOverHttp bank({"--wait-ms", "60000"});
  bank.startEndpoints();
  bank.startGateway();
  openAccounts(bank);
  bank.stopEndpoints();

  // Accepted: in the transfers queue, with nobody to process it yet; then the gateway dies.
  HttpResult lost;
  std::jthread client(
      [&] { lost = bank.post("/v1/transfers/StartTransfer", "\"t9\"", transfer("t9", 250)); });
  while (bank.readyIn("transfers") == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bank.killGateway();
  client.join();
  CHECK(lost.status == 0);  // the client saw the connection die, no answer

  // The client retries against a new gateway before the endpoints are back: a second copy of
  // the same id joins the first in the queue; the endpoint applies one of them.
  bank.startGateway();
  HttpResult retried;
  std::jthread retry(
      [&] { retried = bank.post("/v1/transfers/StartTransfer", "\"t9\"", transfer("t9", 250)); });
  while (bank.readyIn("transfers") < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bank.startEndpoints();
  retry.join();
  checkAcceptedOnce(bank, retried, "\"t9\"", "t9", 250);
}

TEST_CASE(
    "kill -9 of the endpoint at each step of running a request, while the gateway waits: the "
    "client gets the answer, a retry the same bytes, and the request ran once",
    "[http][gateway][process][crash]") {
  for (const char* step : {"in-handler", "after-commit", "after-publish", "before-ack"}) {
    DYNAMIC_SECTION(step) {
      BankOverHttp bank({"--wait-ms", "60000"});
      bank.startEndpoints();
      bank.startGateway();
      openAccounts(bank);
      bank.stopEndpoints();
      // The transfers endpoint dies at `step` of its first input: the StartTransfer below.
      bank.startEndpoints(std::string(step) + "@transfers");
      HttpResult first;
      std::jthread client(
          [&] { first = bank.post("/v1/transfers/StartTransfer", "t7", transfer("t7", 40)); });
      CHECK(bank.endpointsExitStatus() == 128 + SIGKILL);
      bank.startEndpoints();
      client.join();
      checkAcceptedOnce(bank, first, "t7", "t7", 40);
    }
  }
}

}  // namespace idem::test
