// The `idem` tool from the shell: send, queues and errors show|retry|purge against a running
// endpoint process, with the exit codes scripts rely on.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "idem/version.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"
#include "tools/crash_hook.h"
#include "tools/supervisor.h"

namespace idem::test {
namespace {

using Result = ShellResult;

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// stdout and stderr
Result idem(const std::string& arguments) {
  return runShell(std::string(IDEM_BINARY) + " " + arguments + " 2>&1");
}

nlohmann::json queueOf(const std::string& dir, const std::string& endpoint) {
  Result r = idem("queues --dir " + dir + " --json");
  REQUIRE(r.exitCode == 0);
  for (const auto& q : nlohmann::json::parse(r.output)) {
    if (q["endpoint"] == endpoint) return q;
  }
  return nlohmann::json{{"ready", 0}, {"inFlight", 0}, {"delayed", 0}, {"errors", 0}};
}

void waitForErrors(const std::string& dir, const std::string& endpoint, std::uint64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (queueOf(dir, endpoint)["errors"].get<std::uint64_t>() != count) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST_CASE("idem send converts JSON through the schema and refuses what does not fit",
          "[tools][process]") {
  TempDir dir("idem-tools");
  const std::string d = dir.path().string();
  const std::string open = "send --app bank --create --dir " + d + " --type OpenAccount --json " +
                           quoted(R"({"accountId":"a","initialBalance":100})");
  Result first = idem(open);
  REQUIRE(first.exitCode == 0);
  REQUIRE(first.output.size() == 33);           // 32 hex digits and a newline
  REQUIRE(idem(open).output == first.output);   // the same command is the same logical message
  CHECK(queueOf(d, "accounts")["ready"] == 2);  // two copies queued: the endpoint dedups

  Result unknownField = idem("send --app bank --dir " + d + " --type OpenAccount --json " +
                             quoted(R"({"acountId":"a"})"));
  CHECK(unknownField.exitCode == 1);
  CHECK_THAT(unknownField.output,
             Catch::Contains("OpenAccount.acountId: OpenAccount has no field 'acountId'"));
  Result unknownType = idem("send --app bank --dir " + d + " --type Nope --json '{}'");
  CHECK(unknownType.exitCode == 1);
  CHECK_THAT(unknownType.output, Catch::Contains("StartTransfer"));  // lists the known ones
  Result nobody = idem("send --app bank --dir " + d + " --type OpenAccount --to nowhere --json " +
                       quoted(R"({"accountId":"a"})"));
  CHECK(nobody.exitCode == 1);
  CHECK_THAT(nobody.output, Catch::Contains("no endpoint 'nowhere'"));
  CHECK(idem("send --app bank").exitCode == 2);
  CHECK(idem("queues --dir " + d + "/missing").exitCode == 1);
  CHECK(idem("--help").exitCode == 0);
}

TEST_CASE("idem --version and idem version print the project's version and exit 0", "[tools]") {
  const std::string expected =
      "idem " + std::string(kVersion) +
      "\nversion store format idem.version-store/2\nbus format idem.bus/1\n";
  Result flag = idem("--version");
  CHECK(flag.exitCode == 0);
  CHECK(flag.output == expected);
  Result command = idem("version");
  CHECK(command.exitCode == 0);
  CHECK(command.output == expected);
}

TEST_CASE("idem errors shows, retries and purges what a running endpoint dead-lettered",
          "[tools][process]") {
  TempDir dir("idem-tools");
  const std::string d = dir.path().string();
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start("accounts",
                   {IDEM_BINARY, "run", "--app", "bank", "--endpoint", "accounts", "--dir", d});
  // Settling a hold that was never placed is a protocol error: permanent, to the error queue.
  REQUIRE(idem("send --app bank --create --dir " + d + " --type SettleHold --json " +
               quoted(R"({"transferId":"t-9","accountId":"nobody"})"))
              .exitCode == 0);
  waitForErrors(d, "accounts", 1);

  Result shown = idem("errors show --dir " + d + " --endpoint accounts --app bank --json");
  REQUIRE(shown.exitCode == 0);
  const auto errors = nlohmann::json::parse(shown.output);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0]["reason"].get<std::string>(), Catch::Contains("failed"));
  CHECK(errors[0]["message"]["type"] == "SettleHold");
  CHECK(errors[0]["message"]["payload"]["transferId"] == "t-9");

  Result retried = idem("errors retry --dir " + d + " --endpoint accounts");
  CHECK(retried.exitCode == 0);
  CHECK_THAT(retried.output, Catch::Contains("1 error(s) moved back"));
  waitForErrors(d, "accounts", 1);  // it fails the same way again

  Result purged = idem("errors purge --dir " + d + " --endpoint accounts");
  CHECK(purged.exitCode == 0);
  CHECK(queueOf(d, "accounts")["errors"] == 0);

  supervisor.kill("accounts", SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (supervisor.running("accounts")) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(supervisor.exitStatus("accounts") == 0);  // drained and exited cleanly
}

// Waits until the endpoint's queue holds nothing ready or leased.
void waitForDrained(const std::string& dir, const std::string& endpoint) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    const nlohmann::json q = queueOf(dir, endpoint);
    if (q["ready"] == 0 && q["inFlight"] == 0 && q["delayed"] == 0) return;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void stopAndWait(tools::Supervisor& supervisor, const std::string& name) {
  supervisor.kill(name, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (supervisor.running(name)) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// The counters the endpoint process wrote last (DIR/stats/<endpoint>.<pid>.json).
nlohmann::json statsOf(const std::filesystem::path& dir, const std::string& endpoint) {
  for (const auto& file : std::filesystem::directory_iterator(dir / "stats")) {
    const std::string name = file.path().filename().string();
    if (name.starts_with(endpoint + ".") && name.ends_with(".json")) {
      std::ifstream in(file.path());
      return nlohmann::json::parse(in);
    }
  }
  FAIL("no stats file for " << endpoint);
  return {};
}

TEST_CASE("idem run --handlers serves the endpoints of a handler module", "[tools][process]") {
  TempDir dir("idem-tools");
  const std::string d = dir.path().string();
  const std::string module = IDEM_BANK_MODULE;
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start(
      "accounts", {IDEM_BINARY, "run", "--handlers", module, "--endpoint", "accounts", "--dir", d});
  // The module's schemas convert the JSON; the module's endpoint processes it.
  const std::string open = "send --handlers " + module + " --create --dir " + d +
                           " --type OpenAccount --json " +
                           quoted(R"({"accountId":"a","initialBalance":100})");
  REQUIRE(idem(open).exitCode == 0);
  REQUIRE(idem(open).exitCode == 0);  // the same logical message again: a duplicate
  waitForDrained(d, "accounts");
  // queues knows the module's endpoints, also those nothing was sent to yet.
  Result queues = idem("queues --dir " + d + " --handlers " + module + " --json");
  REQUIRE(queues.exitCode == 0);
  std::vector<std::string> names;
  for (const auto& q : nlohmann::json::parse(queues.output)) names.push_back(q["endpoint"]);
  CHECK_THAT(names, Catch::VectorContains(std::string("transfers")));
  Result errors = idem("errors show --dir " + d + " --endpoint notifications --handlers " + module);
  CHECK(errors.exitCode == 0);
  CHECK_THAT(errors.output, Catch::Contains("0 error(s) in notifications"));

  stopAndWait(supervisor, "accounts");
  CHECK(supervisor.exitStatus("accounts") == 0);
  const nlohmann::json stats = statsOf(dir.path(), "accounts");
  CHECK(stats["processed"] == 1);
  CHECK(stats["duplicates"].get<int>() + stats["alreadyPublished"].get<int>() == 1);

  Result noEndpoint = idem("run --handlers " + module + " --endpoint nowhere --dir " + d);
  CHECK(noEndpoint.exitCode == 1);
  CHECK_THAT(noEndpoint.output, Catch::Contains("no endpoint 'nowhere'"));
  Result notAModule = idem("run --handlers /etc/hostname --endpoint accounts --dir " + d);
  CHECK(notAModule.exitCode == 1);
  CHECK_THAT(notAModule.output, Catch::Contains("cannot load handler module /etc/hostname"));
}

TEST_CASE("idem gateway --handlers routes HTTP requests to the named endpoints of a module",
          "[tools][process][http]") {
  TempDir dir("idem-tools");
  const std::string d = dir.path().string();
  const std::string module = IDEM_BANK_MODULE;
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start(
      "accounts", {IDEM_BINARY, "run", "--handlers", module, "--endpoint", "accounts", "--dir", d});
  const std::string portFile = d + "/gateway.port";
  supervisor.start("gateway",
                   {IDEM_BINARY, "gateway", "--handlers", module, "--endpoint", "accounts", "--dir",
                    d, "--listen", "127.0.0.1:0", "--port-file", portFile, "--wait-ms", "30000"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::filesystem::exists(portFile)) {
    REQUIRE(supervisor.running("gateway"));
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string port;
  std::ifstream(portFile) >> port;
  // The response's status line and headers.
  auto post = [&](const std::string& path, const std::string& json) {
    return runShell(
               "curl -s -o /dev/null -D - -H 'Idempotency-Key: k1' -H "
               "'Content-Type: application/json' -d " +
               quoted(json) + " http://127.0.0.1:" + port + path)
        .output;
  };
  const std::string open = R"({"accountId":"a","initialBalance":"100"})";
  const std::string first = post("/v1/accounts/OpenAccount", open);
  CHECK_THAT(first, Catch::StartsWith("HTTP/1.1 204"));
  CHECK_THAT(first, !Catch::Contains("Idempotent-Replayed"));
  const std::string again = post("/v1/accounts/OpenAccount", open);
  CHECK_THAT(again, Catch::StartsWith("HTTP/1.1 204"));
  CHECK_THAT(again, Catch::Contains("Idempotent-Replayed: true"));
  // transfers is an endpoint of the module, but not one this gateway was told to route to.
  CHECK_THAT(post("/v1/transfers/StartTransfer", R"({"transferId":"t"})"),
             Catch::StartsWith("HTTP/1.1 404"));
  stopAndWait(supervisor, "gateway");
  CHECK(supervisor.exitStatus("gateway") == 0);
  stopAndWait(supervisor, "accounts");
  const nlohmann::json stats = statsOf(dir.path(), "accounts");
  CHECK(stats["processed"] == 1);

  Result noEndpoint = idem("gateway --handlers " + module + " --endpoint nowhere --dir " + d);
  CHECK(noEndpoint.exitCode == 1);
  CHECK_THAT(noEndpoint.output, Catch::Contains("no endpoint 'nowhere'"));
}

TEST_CASE("idem send explains JSON that does not fit the schema by field, type and position",
          "[tools]") {
  TempDir dir("idem-tools");
  const std::string send = "send --app bank --create --dir " + dir.path().string() + " --type ";
  Result wrongType = idem(send + "OpenAccount --json " + quoted(R"({"accountId":5})"));
  CHECK(wrongType.exitCode == 1);
  CHECK_THAT(wrongType.output,
             Catch::Contains("OpenAccount.accountId: expected a string (Text), got number 5"));
  Result negative =
      idem(send + "OpenAccount --json " + quoted(R"({"accountId":"a","initialBalance":"lots"})"));
  CHECK(negative.exitCode == 1);
  CHECK_THAT(negative.output, Catch::Contains("OpenAccount.initialBalance: expected an integer"));
  Result syntax = idem(send + "OpenAccount --json " + quoted(R"({"accountId": "a",)"));
  CHECK(syntax.exitCode == 1);
  CHECK_THAT(syntax.output, Catch::Contains("not valid JSON at character 19: syntax error"));
  Result notObject = idem(send + "OpenAccount --json '[1]'");
  CHECK(notObject.exitCode == 1);
  CHECK_THAT(notObject.output, Catch::Contains("a OpenAccount is a JSON object"));
  for (const Result* r : {&wrongType, &negative, &syntax, &notObject}) {
    CHECK_THAT(r->output, !Catch::Contains("capnp") && !Catch::Contains(".c++"));
  }
}

TEST_CASE("idem commands refuse a directory that is not a workspace instead of creating one",
          "[tools]") {
  TempDir dir("idem-tools");
  const std::string d = (dir / "typo").string();
  Result send = idem("send --app bank --dir " + d + " --type OpenAccount --json " +
                     quoted(R"({"accountId":"a"})"));
  CHECK(send.exitCode == 1);
  CHECK_THAT(send.output, Catch::Contains(d + " is not an idem workspace"));
  CHECK_FALSE(std::filesystem::exists(d));
  Result queues = idem("queues --dir " + d);
  CHECK(queues.exitCode == 1);
  CHECK_THAT(queues.output, Catch::Contains("is not an idem workspace"));
  Result errors = idem("errors show --dir " + d + " --endpoint accounts");
  CHECK(errors.exitCode == 1);
  CHECK_THAT(errors.output, Catch::Contains("is not an idem workspace"));
  CHECK_FALSE(std::filesystem::exists(d));
}

TEST_CASE("idem errors refuses an unknown endpoint and an id that is not in the queue", "[tools]") {
  TempDir dir("idem-tools");
  const std::string d = dir.path().string();
  REQUIRE(idem("send --app bank --create --dir " + d + " --type OpenAccount --json " +
               quoted(R"({"accountId":"a"})"))
              .exitCode == 0);
  Result typo = idem("errors show --dir " + d + " --endpoint acounts");
  CHECK(typo.exitCode == 1);
  CHECK_THAT(typo.output, Catch::Contains("no endpoint 'acounts' in the bus of " + d));
  CHECK_THAT(typo.output, Catch::Contains("accounts"));  // names the known ones
  CHECK(idem("errors show --dir " + d + " --endpoint accounts").exitCode == 0);
  for (const char* verb : {"show", "retry", "purge"}) {
    Result missing =
        idem(std::string("errors ") + verb + " --dir " + d + " --endpoint accounts --id 999");
    CHECK(missing.exitCode == 1);
    CHECK_THAT(missing.output, Catch::Contains("no error #999 in the error queue of accounts"));
  }
}

TEST_CASE("idem usage errors exit 2 and failures print without log decoration", "[tools]") {
  TempDir dir("idem-tools");
  const std::string d = dir.path().string();
  CHECK(idem("queues").exitCode == 2);  // neither --dir nor --transport
  Result both = idem("send --app bank --handlers " + std::string(IDEM_BANK_MODULE) + " --dir " + d +
                     " --type OpenAccount --json '{}'");
  CHECK(both.exitCode == 2);
  CHECK_THAT(both.output, Catch::Contains("give exactly one of --app"));
  Result neither = idem("run --endpoint accounts --dir " + d);
  CHECK(neither.exitCode == 2);
  Result badId = idem("send --app bank --create --dir " + d +
                      " --type OpenAccount --id xyz --json " + quoted(R"({"accountId":"a"})"));
  CHECK(badId.exitCode == 2);
  CHECK_THAT(badId.output, Catch::Contains("--id must be 32 hex digits"));
  Result failed = idem("queues --dir " + d + "/missing");
  CHECK(failed.exitCode == 1);
  CHECK(failed.output.starts_with("idem: "));  // no timestamp, no [error] level tag
  CHECK_THAT(failed.output, !Catch::Contains("[error]"));
}

}  // namespace idem::test

TEST_CASE("IDEM_CRASH_AT names a pipeline step of one endpoint or a step of the calls runner",
          "[tools][unit]") {
  using idem::tools::CrashHook;
  const CrashHook payments = CrashHook::parse("after-commit@payments:3");
  CHECK(payments.forEndpoint("payments"));
  CHECK_FALSE(payments.forEndpoint("orders"));
  CHECK_FALSE(payments.forCallRunner());
  const CrashHook any = CrashHook::parse("before-ack");
  CHECK(any.forEndpoint("orders"));
  CHECK(any.forEndpoint("payments"));
  const CrashHook runner = CrashHook::parse("after-post:2");
  CHECK(runner.forCallRunner());
  CHECK_FALSE(runner.forEndpoint("http-calls"));
  CHECK_THROWS_WITH(CrashHook::parse("after-lunch"),
                    Catch::Contains("after-lunch") && Catch::Contains("no pipeline step"));
  CHECK_THROWS_WITH(CrashHook::parse("after-put@http-calls"),
                    Catch::Contains("belongs to no endpoint"));
  CHECK_THROWS_WITH(CrashHook::parse("in-handler:0"), Catch::Contains("positive count"));
  CHECK_THROWS_WITH(CrashHook::parse("in-handler:x"), Catch::Contains("'x'"));
}
