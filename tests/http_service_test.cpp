// The four-phase service routes (`idem gateway --service`, docs/http.md "Calling an idem endpoint
// as a service") as real processes over loopback: the bank's endpoints under `idem run`, the
// gateway with --service, a libcurl client; executions are counted in the transfers store and
// the tokens in the gateway's service directory.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "http/service.h"
#include "http/service_tokens.h"
#include "idem/embedded_transport.h"
#include "tests/bank_over_http.h"
#include "tests/http_client.h"
#include "tests/temp_dir.h"
#include "tools/apps.h"
#include "tools/store_view.h"
#include "tools/supervisor.h"

namespace idem::test {

namespace {

using std::chrono::system_clock;

// The bank over HTTP with `idem gateway --service`, and what the service half stores.
class BankService : public BankOverHttp {
 public:
  explicit BankService(std::vector<std::string> gatewayFlags = {})
      : BankOverHttp(withService(std::move(gatewayFlags)), "idem-http-service") {}

  void openAccounts() {
    REQUIRE(
        post("/v1/accounts/OpenAccount", "open-A", R"({"accountId":"A","initialBalance":"10000"})")
            .status == 204);
    REQUIRE(post("/v1/accounts/OpenAccount", "open-B", R"({"accountId":"B","initialBalance":"0"})")
                .status == 204);
  }

  http::ServiceTokenCounts stored() const {
    return http::ServiceTokens(workspace() / "service" / "gateway").count();
  }

 private:
  static std::vector<std::string> withService(std::vector<std::string> flags) {
    flags.insert(flags.begin(), "--service");
    return flags;
  }
};

// A caller's time-ordered request id, as its output ids are (docs/message-ids.md).
std::string callId(const std::string& key, system_clock::time_point at = system_clock::now()) {
  return MessageId::forEdge("test caller", key, at).toHex();
}

std::string transfer(const std::string& id, int amount) {
  return R"({"transferId":")" + id + R"(","from":"A","to":"B","amount":")" +
         std::to_string(amount) + R"("})";
}

std::string path(const std::string& id) { return "/v1/transfers/StartTransfer/requests/" + id; }

void checkProblem(const HttpResult& r, long status, const std::string& type) {
  INFO(r.status << " " << r.body << " " << r.error);
  CHECK(r.status == status);
  CHECK(r.header("content-type") == "application/problem+json");
  if (r.body.empty()) return;
  CHECK(nlohmann::json::parse(r.body).at("type") == "https://idem.dev/problems/" + type);
}

}  // namespace

TEST_CASE("service tokens are put once, posted, deleted to a tombstone and pruned by id age",
          "[http][service][unit]") {
  TempDir dir("idem-service-tokens");
  http::ServiceTokens tokens(dir / "t");
  const auto now = system_clock::now();
  const MessageId a = MessageId::forEdge("t", "a", now);
  const MessageId old = MessageId::forEdge("t", "old", now - std::chrono::hours(48));
  CHECK(std::chrono::abs(a.createdAt() - now) < std::chrono::milliseconds(1));
  MessageId farFuture;  // a stranger's id: 48 bits of milliseconds overflow the clock's ns
  farFuture.bytes.fill(0xff);
  CHECK(farFuture.createdAt() > now + std::chrono::hours(24 * 365 * 200));
  const std::vector<std::byte> body{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                    std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8}};
  CHECK(tokens.find("e/T", a).state == http::ServiceToken::State::kAbsent);
  CHECK(tokens.put("e/T", a, body));
  CHECK_FALSE(tokens.put("e/T", a, {}));  // exists: not replaced
  CHECK(tokens.find("e/T", a).state == http::ServiceToken::State::kPut);
  CHECK(tokens.find("e/T", a).payload == body);
  CHECK(tokens.find("e/Other", a).state == http::ServiceToken::State::kAbsent);
  tokens.markPosted("e/T", a, body);
  CHECK(tokens.find("e/T", a).state == http::ServiceToken::State::kPosted);
  CHECK(tokens.find("e/T", a).payload == body);
  CHECK(tokens.put("e/T", old, body));
  CHECK(tokens.count().requests == 2);
  tokens.remove("e/T", a);
  CHECK(tokens.find("e/T", a).state == http::ServiceToken::State::kDeleted);
  CHECK(tokens.count().requests == 1);
  CHECK(tokens.count().tombstones == 1);
  CHECK(tokens.prune(now, std::chrono::hours(24)) == 1);  // the old request only
  CHECK(tokens.count().requests == 0);
  CHECK(tokens.count().tombstones == 1);
  CHECK(tokens.prune(now + std::chrono::hours(25), std::chrono::hours(24)) == 1);
  CHECK(tokens.count().tombstones == 0);
  CHECK(tokens.find("e/T", a).state == http::ServiceToken::State::kAbsent);
}

TEST_CASE("a service request is PUT, POSTed once, read, DELETEd, and never executed again",
          "[http][service][process]") {
  BankService bank;
  bank.startEndpoints();
  bank.startGateway();
  bank.openAccounts();
  const std::string id = callId("call-1");

  const HttpResult put = bank.call("PUT", path(id), transfer("s1", 100));
  INFO(put.body);
  CHECK(put.status == 201);
  CHECK(put.header("location") == path(id));
  CHECK(bank.call("PUT", path(id), transfer("s1", 100)).status == 200);
  checkProblem(bank.call("PUT", path(id), transfer("s1", 101)), 409, "request-conflict");
  checkProblem(bank.call("GET", path(id)), 409, "request-not-posted");
  CHECK(bank.startTransferExecutions("s1") == 0);

  const HttpResult first = bank.call("POST", path(id));
  INFO(first.body);
  REQUIRE(first.status == 200);
  CHECK(first.header("idem-outcome-status") == "200");
  CHECK(first.header("idem-reply-type") == "TransferAcceptance");
  CHECK(first.header("content-type") == "application/json");
  CHECK(nlohmann::json::parse(first.body).at("accepted") == true);
  CHECK(first.header("idem-message-id") == put.header("idem-message-id"));
  for (const char* method : {"POST", "GET", "POST"}) {
    const HttpResult again = bank.call(method, path(id));
    CHECK(again.status == 200);
    CHECK(again.body == first.body);
    CHECK(again.headers == first.headers);
  }
  CHECK(bank.call("PUT", path(id), transfer("s1", 100)).status == 200);  // a late PUT, before
  CHECK(bank.startTransferExecutions("s1") == 1);                        // the DELETE: harmless

  CHECK(bank.call("DELETE", path(id)).status == 204);
  CHECK(bank.call("DELETE", path(id)).status == 204);
  CHECK(bank.stored().requests == 0);
  CHECK(bank.stored().tombstones == 1);

  // The re-created token: the PUT replayed (a caller's duplicate, or delayed in the network),
  // then a POST. Neither runs the handler again.
  checkProblem(bank.call("PUT", path(id), transfer("s1", 100)), 410, "request-deleted");
  checkProblem(bank.call("POST", path(id)), 410, "request-deleted");
  checkProblem(bank.call("GET", path(id)), 410, "request-deleted");
  CHECK(bank.stored().requests == 0);
  CHECK(bank.startTransferExecutions("s1") == 1);
}

TEST_CASE("service protocol errors use disjoint statuses and problem documents",
          "[http][service][process]") {
  BankService bank;
  bank.startEndpoints();
  bank.startGateway();
  bank.openAccounts();
  const std::string fresh = callId("never-put");
  checkProblem(bank.call("POST", path(fresh)), 409, "request-not-put");
  checkProblem(bank.call("GET", path(fresh)), 404, "unknown-request");
  checkProblem(bank.call("DELETE", path(fresh)), 404, "unknown-request");
  const std::string old = callId("old", system_clock::now() - std::chrono::hours(25));
  checkProblem(bank.call("PUT", path(old), transfer("s-old", 1)), 410, "request-expired");
  checkProblem(bank.call("POST", path(old)), 410, "request-expired");
  const std::string future = callId("future", system_clock::now() + std::chrono::hours(1));
  checkProblem(bank.call("PUT", path(future), transfer("s-future", 1)), 400, "invalid-request-id");
  checkProblem(bank.call("PUT", path("nothex"), transfer("s-x", 1)), 400, "invalid-request-id");
  checkProblem(bank.call("PUT", "/v1/transfers/Nothing/requests/" + fresh, "{}"), 404,
               "unknown-route");
  checkProblem(bank.call("PATCH", path(fresh)), 405, "method-not-allowed");
  checkProblem(bank.call("PUT", path(fresh), R"({"transferId":"s-y","amout":"1"})"), 400,
               "invalid-message");
  // A business "no" is an outcome: 200, the reply says it.
  const std::string same = callId("same-account");
  REQUIRE(
      bank.call("PUT", path(same), R"({"transferId":"s-same","from":"A","to":"A","amount":"5"})")
          .status == 201);
  const HttpResult no = bank.call("POST", path(same));
  CHECK(no.status == 200);
  CHECK(no.header("idem-outcome-status") == "200");
  CHECK(nlohmann::json::parse(no.body).at("accepted") == false);
  CHECK(bank.startTransferExecutions("s-old") == 0);
  CHECK(bank.startTransferExecutions("s-future") == 0);
  // The plain gateway's routes still answer beside the service's.
  checkProblem(httpCall("GET", bank.url("/v1/requests/" + std::string(32, '0'))), 404,
               "unknown-request");
}

TEST_CASE("after N service calls the service holds no request, only N tombstones",
          "[http][service][process]") {
  BankService bank;
  bank.startEndpoints();
  bank.startGateway();
  bank.openAccounts();
  constexpr int kCalls = 20;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    const std::string id = callId("n-" + std::to_string(i));
    const std::string transferId = "n" + std::to_string(i);
    REQUIRE(bank.call("PUT", path(id), transfer(transferId, 1)).status == 201);
    const HttpResult posted = bank.call("POST", path(id));
    REQUIRE(posted.status == 200);
    CHECK(bank.call("GET", path(id)).body == posted.body);
    CHECK(bank.call("DELETE", path(id)).status == 204);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf("%d service calls (PUT, POST, GET, DELETE): %.1f ms per call\n", kCalls,
              std::chrono::duration<double, std::milli>(elapsed).count() / kCalls);
  CHECK(bank.stored().requests == 0);
  CHECK(bank.stored().tombstones == kCalls);
  for (int i = 0; i < kCalls; ++i)
    CHECK(bank.startTransferExecutions("n" + std::to_string(i)) == 1);
}

TEST_CASE(
    "kill -9 of the service between PUT and POST, between publishing and answering a POST, and "
    "between POST and DELETE: one execution, the same response",
    "[http][service][process][crash]") {
  BankService bank({"--wait-ms", "60000"});
  bank.startEndpoints();
  bank.startGateway();
  bank.openAccounts();
  const std::string id = callId("crash-1");

  // Between PUT and POST: the token survives.
  REQUIRE(bank.call("PUT", path(id), transfer("c1", 250)).status == 201);
  bank.killGateway();
  bank.startGateway();
  CHECK(bank.call("PUT", path(id), transfer("c1", 250)).status == 200);

  // Between publishing and answering the POST: no endpoint runs, the message waits in the bus.
  bank.stopEndpoints();
  HttpResult lost;
  std::jthread client([&] { lost = bank.call("POST", path(id)); });
  while (bank.readyIn("transfers") == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bank.killGateway();
  client.join();
  CHECK(lost.status == 0);  // the connection died, no answer
  bank.startGateway();
  HttpResult retried;
  std::jthread retry([&] { retried = bank.call("POST", path(id)); });
  while (bank.readyIn("transfers") < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bank.startEndpoints();  // two copies of one id in the queue: one is applied
  retry.join();
  INFO(retried.status << " " << retried.body << " " << retried.error);
  REQUIRE(retried.status == 200);
  CHECK(nlohmann::json::parse(retried.body).at("accepted") == true);

  // Between POST and DELETE: the outcome is re-derived from the endpoint's store.
  bank.killGateway();
  bank.startGateway();
  CHECK(bank.call("GET", path(id)).body == retried.body);
  CHECK(bank.call("POST", path(id)).body == retried.body);
  CHECK(bank.call("DELETE", path(id)).status == 204);
  bank.killGateway();
  bank.startGateway();
  checkProblem(bank.call("PUT", path(id), transfer("c1", 250)), 410, "request-deleted");
  checkProblem(bank.call("POST", path(id)), 410, "request-deleted");
  CHECK(bank.stored().requests == 0);
  CHECK(bank.stored().tombstones == 1);
  CHECK(bank.startTransferExecutions("c1") == 1);
}

}  // namespace idem::test
