// The `idem` tool from the shell: send, queues and errors show|retry|purge against a running
// endpoint process, with the exit codes scripts rely on.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "idem/version.h"
#include "tests/temp_dir.h"
#include "tools/supervisor.h"

namespace idem::test {
namespace {

struct Result {
  int exitCode = -1;
  std::string output;  // stdout and stderr
};

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Result idem(const std::string& arguments) {
  Result r;
  FILE* pipe = ::popen((std::string(IDEM_BINARY) + " " + arguments + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) r.output += buffer;
  const int status = ::pclose(pipe);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
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
  const std::string open = "send --app bank --dir " + d + " --type OpenAccount --json " +
                           quoted(R"({"accountId":"a","initialBalance":100})");
  Result first = idem(open);
  REQUIRE(first.exitCode == 0);
  REQUIRE(first.output.size() == 33);           // 32 hex digits and a newline
  REQUIRE(idem(open).output == first.output);   // the same command is the same logical message
  CHECK(queueOf(d, "accounts")["ready"] == 2);  // two copies queued: the endpoint dedups

  Result unknownField = idem("send --app bank --dir " + d + " --type OpenAccount --json " +
                             quoted(R"({"acountId":"a"})"));
  CHECK(unknownField.exitCode == 1);
  CHECK_THAT(unknownField.output, Catch::Contains("acountId"));
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
  REQUIRE(idem("send --app bank --dir " + d + " --type SettleHold --json " +
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

}  // namespace idem::test
