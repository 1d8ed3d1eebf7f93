// The demos end to end: the real `idem` binary runs each sample app as endpoint processes under
// chaos (kill -9, duplicate deliveries), and its JSON report must show every invariant holding,
// also when the demo driver itself is killed or interrupted and run again on the same directory,
// on the embedded bus and across NATS JetStream.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/nats_server.h"
#include "tests/temp_dir.h"
#include "tools/supervisor.h"

using idem::test::TempDir;
using idem::tools::Supervisor;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> demoArgs(const std::string& app, const TempDir& dir,
                                  std::vector<std::string> extra,
                                  const std::string& killEveryMs = "60",
                                  const std::string& subdirectory = "demo") {
  std::vector<std::string> argv = {IDEM_BINARY,
                                   "demo",
                                   app,
                                   "--dir",
                                   (dir / subdirectory).string(),
                                   "--report",
                                   (dir / "report.json").string(),
                                   "--stall-seconds",
                                   "20",
                                   "--kill-every-ms",
                                   killEveryMs};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Waits (polling, with a deadline) for `name` to exit; returns its exit status, or -1 after
// killing it when the deadline passed.
int waitForExit(Supervisor& supervisor, const std::string& name, std::chrono::seconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (supervisor.running(name)) {
    if (std::chrono::steady_clock::now() > deadline) {
      supervisor.kill(name, SIGKILL);
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  return supervisor.exitStatus(name).value_or(-1);
}

// The last `bytes` of what the demo printed (its supervisor log), for a failure's message.
std::string demoLogTail(const TempDir& dir, std::size_t bytes = 3000) {
  std::ifstream in(dir / "logs" / "demo.log");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

nlohmann::json readReport(const TempDir& dir) {
  nlohmann::json report;
  std::ifstream(dir / "report.json") >> report;
  return report;
}

void requireEveryInvariant(const nlohmann::json& report) {
  REQUIRE(report.at("invariants").size() >= 5);
  for (const auto& invariant : report.at("invariants")) {
    INFO(invariant.at("name").get<std::string>()
         << ": " << invariant.at("detail").get<std::string>());
    CHECK(invariant.at("holds").get<bool>());
  }
  CHECK(report.at("passed").get<bool>());
}

// True once some transfer has ended: a notifications process committed inputs (its stats file
// says so), and a notice goes out only when its transfer ended. Processed inputs at the transfers
// endpoint would not do: across NATS, hundreds are committed before the first transfer ends.
bool transfersEnded(const TempDir& dir) {
  const auto stats = dir / "demo" / "stats";
  if (!std::filesystem::exists(stats)) return false;
  for (const auto& file : std::filesystem::directory_iterator(stats)) {
    if (file.path().filename().string().rfind("notifications.", 0) != 0) continue;
    nlohmann::json j;
    try {
      std::ifstream(file.path()) >> j;
    } catch (const nlohmann::json::exception&) {
      continue;
    }
    if (j.value("processed", 0) > 0) return true;
  }
  return false;
}

// Transfers in the interrupted demos: several seconds of work even on a fast machine, so the
// signal (sent once the first transfers ended, well under a second in) lands mid-run.
constexpr int kInterruptedTransfers = 6000;
// The rerun finishes thousands of transfers under chaos: 92 s under ASan on a loaded 2-core
// machine (load 11), 10 s in a plain build. A bound for a wedged run (the demo's own
// --stall-seconds catches a stall sooner), not a timing assertion.
constexpr std::chrono::seconds kResumedRunLimit{240};

// Starts the bank demo and stops it with `signal` once its transfers are under way.
int interruptBankDemo(Supervisor& supervisor, const TempDir& dir, int signal,
                      std::vector<std::string> extra = {}, int transfers = kInterruptedTransfers) {
  std::vector<std::string> args = {"--transfers", std::to_string(transfers), "--accounts", "40",
                                   "--no-chaos"};
  args.insert(args.end(), extra.begin(), extra.end());
  supervisor.start("demo", demoArgs("bank", dir, args));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!transfersEnded(dir) && std::chrono::steady_clock::now() < deadline &&
         supervisor.running("demo")) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(transfersEnded(dir));
  supervisor.kill("demo", signal);
  return waitForExit(supervisor, "demo");
}

}  // namespace

TEST_CASE("the bank demo under chaos ends with every invariant holding", "[demo][process]") {
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  // Enough work that the run outlasts several kill intervals even on a quiet machine.
  supervisor.start("demo", demoArgs("bank", dir, {"--transfers", "1500", "--accounts", "40"}));
  REQUIRE(waitForExit(supervisor, "demo") == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("total") == 1500);
  CHECK(report.at("endedThisRun") == 1500);
  CHECK(report.at("parameters").at("chaos") == true);
  CHECK(report.at("chaos").at("kills") > 0);
  CHECK(report.at("chaos").at("injectedDuplicates") > 0);
}

TEST_CASE("the orders demo under chaos ends with every invariant holding", "[demo][process]") {
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  supervisor.start("demo", demoArgs("orders", dir, {"--orders", "60"}));
  REQUIRE(waitForExit(supervisor, "demo") == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("total") == 60);
  CHECK(report.at("chaos").at("kills") > 0);
}

TEST_CASE("a bank demo killed with -9 mid-run finishes its work when run again on its directory",
          "[demo][process]") {
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  REQUIRE(interruptBankDemo(supervisor, dir, SIGKILL) == 128 + SIGKILL);
  // Run again with no workload flags: the parameters come from DIR/demo.json.
  supervisor.start("demo", demoArgs("bank", dir, {}));
  REQUIRE(waitForExit(supervisor, "demo", kResumedRunLimit) == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("resumed") == true);
  CHECK(report.at("total") == kInterruptedTransfers);
  CHECK(report.at("endedThisRun") < kInterruptedTransfers);
}

TEST_CASE("a bank demo interrupted by SIGINT stops with a non-zero code and finishes when rerun",
          "[demo][process]") {
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  REQUIRE(interruptBankDemo(supervisor, dir, SIGINT) == 130);
  supervisor.start("demo", demoArgs("bank", dir, {}));
  REQUIRE(waitForExit(supervisor, "demo", kResumedRunLimit) == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("resumed") == true);
  CHECK(report.at("total") == kInterruptedTransfers);
  CHECK(report.at("endedThisRun") < kInterruptedTransfers);
}

TEST_CASE("an unfinished demo refuses workload flags that conflict with its saved ones",
          "[demo][process]") {
  TempDir dir("idem-demo");
  std::filesystem::create_directories(dir / "demo");
  std::ofstream(dir / "demo" / "demo.json")
      << R"({"app":"bank","transfers":20,"accounts":5,"orders":1000,"seed":1})";
  Supervisor supervisor(dir / "logs");
  supervisor.start("demo", demoArgs("bank", dir, {"--transfers", "30"}));
  CHECK(waitForExit(supervisor, "demo") == 1);
  supervisor.start("demo", demoArgs("orders", dir, {}));
  CHECK(waitForExit(supervisor, "demo") == 1);
  // Without conflicting flags it finishes that demo; run again, it starts afresh.
  supervisor.start("demo", demoArgs("bank", dir, {"--seed", "1"}));
  REQUIRE(waitForExit(supervisor, "demo") == 0);
  CHECK(readReport(dir).at("total") == 20);
  supervisor.start("demo", demoArgs("bank", dir, {"--transfers", "30", "--accounts", "5"}));
  REQUIRE(waitForExit(supervisor, "demo") == 0);
  const auto report = readReport(dir);
  CHECK(report.at("total") == 30);
  CHECK(report.at("resumed") == false);
}

// Across NATS: kills less often than on the bus, since a killed process's deliveries come back
// only when the consumer's AckWait (the lease) expires, and each restart connects afresh.
TEST_CASE(
    "the bank demo across NATS under chaos, two processes per endpoint, ends with every "
    "invariant holding, also right after another demo on the same server",
    "[demo][nats][process]") {
  idem::test::NatsServer server;
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  // A first, finished demo leaves streams and the server's duplicate-window memory of every
  // edge message id: the second (a fresh directory, the same ids) must not be hurt by them.
  supervisor.start("first", demoArgs("bank", dir,
                                     {"--transfers", "50", "--accounts", "10", "--no-chaos",
                                      "--transport", server.url()},
                                     "60", "first"));
  REQUIRE(waitForExit(supervisor, "first") == 0);

  supervisor.start("demo", demoArgs("bank", dir,
                                    {"--transfers", "1500", "--accounts", "40", "--lease-ms",
                                     "1000", "--transport", server.url()},
                                    "250"));
  const int exitCode = waitForExit(supervisor, "demo");
  INFO(demoLogTail(dir));
  REQUIRE(exitCode == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("resumed") == false);
  CHECK(report.at("total") == 1500);
  CHECK(report.at("endedThisRun") == 1500);
  CHECK(report.at("parameters").at("transport") == server.url());
  CHECK(report.at("chaos").at("kills") > 0);
  CHECK(report.at("chaos").at("injectedDuplicates") > 0);
  // Two processes for each of the three endpoints, plus one stats file per restart after a kill.
  CHECK(report.at("counts").at("processFiles") >= 6);
  // Duplicates reached the endpoints (injected copies and redeliveries after kills).
  CHECK(report.at("counts").at("duplicates").get<int>() +
            report.at("counts").at("alreadyPublished").get<int>() >
        0);
}

TEST_CASE("a bank demo across NATS interrupted by SIGINT finishes on the same streams when rerun",
          "[demo][nats][process]") {
  idem::test::NatsServer server;
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  // NATS is slower than the bus here (a PubAck per publish, a fetch per batch): fewer transfers
  // still put the signal mid-run.
  constexpr int kTransfers = 3000;
  REQUIRE(interruptBankDemo(supervisor, dir, SIGINT, {"--transport", server.url()}, kTransfers) ==
          130);
  // No --transport: it comes from DIR/demo.json with the workload.
  supervisor.start("demo", demoArgs("bank", dir, {}));
  const int exitCode = waitForExit(supervisor, "demo");
  INFO(demoLogTail(dir));
  REQUIRE(exitCode == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("resumed") == true);
  CHECK(report.at("parameters").at("transport") == server.url());
  CHECK(report.at("total") == kTransfers);
  CHECK(report.at("endedThisRun") < kTransfers);
}

TEST_CASE("the orders demo across NATS under chaos ends with every invariant holding",
          "[demo][nats][process]") {
  idem::test::NatsServer server;
  TempDir dir("idem-demo");
  Supervisor supervisor(dir / "logs");
  supervisor.start("demo",
                   demoArgs("orders", dir, {"--orders", "60", "--transport", server.url()}, "250"));
  const int exitCode = waitForExit(supervisor, "demo");
  INFO(demoLogTail(dir));
  REQUIRE(exitCode == 0);
  const auto report = readReport(dir);
  requireEveryInvariant(report);
  CHECK(report.at("total") == 60);
  CHECK(report.at("parameters").at("transport") == server.url());
  CHECK(report.at("chaos").at("kills") > 0);
}
