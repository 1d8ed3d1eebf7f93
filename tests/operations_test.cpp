// Operating `idem run`: the configuration file, JSON logs and log levels, the admin listener's
// /metrics, /healthz and /readyz, systemd's notifications, and the cleanup of stats files.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "admin/metrics_text.h"
#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/error.h"
#include "idem/nats_transport.h"
#include "tests/nats_server.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"
#include "tests/test_messages.capnp.h"
#include "tools/run_config.h"
#include "tools/stats_files.h"
#include "tools/supervisor.h"
#include "tools/workspace.h"

namespace idem::test {
namespace {

using Result = ShellResult;

// stdout and stderr
Result shell(const std::string& command) { return runShell(command + " 2>&1"); }

Result idem(const std::string& arguments) {
  return shell(std::string(IDEM_BINARY) + " " + arguments);
}

std::string readFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeFile(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

// Polls `condition` until it holds, failing after 30 s (a hang, not a timing assertion).
template <typename Condition>
void waitUntil(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The port the process logged for its admin listener ("admin listener on ... (port N)").
int adminPort(const std::filesystem::path& log) {
  int port = 0;
  waitUntil([&] {
    std::smatch match;
    const std::string text = readFile(log);
    if (!std::regex_search(text, match, std::regex(R"(admin listener on \S+ \(port (\d+)\))"))) {
      return false;
    }
    port = std::stoi(match[1]);
    return true;
  });
  return port;
}

struct HttpAnswer {
  int status = 0;
  std::string body;
};

HttpAnswer get(int port, const std::string& path) {
  const Result r =
      shell("curl -s -o - -w '\\n%{http_code}' http://127.0.0.1:" + std::to_string(port) + path);
  HttpAnswer answer;
  const std::size_t last = r.output.rfind('\n');
  if (last == std::string::npos) return answer;
  answer.body = r.output.substr(0, last);
  answer.status = std::atoi(r.output.c_str() + last + 1);
  return answer;
}

void stop(tools::Supervisor& supervisor, const std::string& name) {
  supervisor.kill(name, SIGTERM);
  waitUntil([&] { return !supervisor.running(name); });
}

}  // namespace

TEST_CASE("the example configuration file in docs sets every option to its default",
          "[tools][config]") {
  const tools::RunConfig config =
      tools::loadRunConfig(std::filesystem::path(IDEM_SOURCE_DIR) / "docs/examples/idem-run.toml");
  const tools::ServeOptions defaults;
  CHECK(config.handlers == "/usr/lib/bank/libidem_bank_module.so");
  CHECK(config.serve.endpoints == std::vector<std::string>{"accounts"});
  CHECK(config.serve.dir == "/var/lib/bank");
  CHECK(config.logFormat == "text");
  const EndpointOptions& e = config.serve.endpoint;
  const EndpointOptions& d = defaults.endpoint;
  CHECK(e.batchSize == d.batchSize);
  CHECK(e.batchWait == d.batchWait);
  CHECK(e.snapshotEvery == d.snapshotEvery);
  CHECK(e.maxMessageBytes == d.maxMessageBytes);
  CHECK(e.verifyDeterminism == d.verifyDeterminism);
  CHECK(e.replayPublishedDuplicates == d.replayPublishedDuplicates);
  CHECK(e.reemitOwedAfter == d.reemitOwedAfter);
  CHECK(e.initialMapBytes == d.initialMapBytes);
  CHECK(e.durable == d.durable);
  CHECK(e.retry.immediateRetries == d.retry.immediateRetries);
  CHECK(e.retry.delayedRetries == d.retry.delayedRetries);
  CHECK(e.retry.firstDelay == d.retry.firstDelay);
  CHECK(e.retention.enabled == d.retention.enabled);
  CHECK(e.retention.historyHorizon == d.retention.historyHorizon);
  CHECK(e.retention.appliedHorizon == d.retention.appliedHorizon);
  CHECK(e.retention.recordsPerBatch == d.retention.recordsPerBatch);
  const EmbeddedTransportOptions& b = config.serve.embedded;
  CHECK(b.leaseTimeout == defaults.embedded.leaseTimeout);
  CHECK(b.maxDepth == defaults.embedded.maxDepth);
  CHECK(b.maxMessageBytes == defaults.embedded.maxMessageBytes);
  CHECK(b.durable == defaults.embedded.durable);
  CHECK(b.initialMapBytes == defaults.embedded.initialMapBytes);
  CHECK(b.maxMapBytes == defaults.embedded.maxMapBytes);
  const NatsTransportOptions& n = config.serve.nats;
  CHECK(n.replicas == defaults.nats.replicas);
  CHECK(n.ackWait == defaults.nats.ackWait);
  CHECK(n.maxDeliveries == defaults.nats.maxDeliveries);
  CHECK(n.duplicateWindow == defaults.nats.duplicateWindow);
  CHECK(n.publishTimeout == defaults.nats.publishTimeout);
  CHECK(n.connectTimeout == defaults.nats.connectTimeout);
  CHECK(n.reconnectWait == defaults.nats.reconnectWait);
  CHECK(n.maxAckPending == defaults.nats.maxAckPending);
  const calls::CallRunnerOptions& c = config.serve.calls;
  CHECK(c.services.empty());
  CHECK(c.requestTimeout == defaults.calls.requestTimeout);
  CHECK(c.maxCallAge == defaults.calls.maxCallAge);
  CHECK(c.tls.caFile.empty());
  const tools::GatewayConfig& g = config.gateway;
  const tools::GatewayConfig gd;
  CHECK(g.endpoints.empty());
  CHECK(g.listen == gd.listen);
  CHECK(g.name == gd.name);
  CHECK(g.wait == gd.wait);
  CHECK(g.authTokensFile.empty());
  CHECK(g.maxConnections == gd.maxConnections);
  CHECK(g.requestTimeout == gd.requestTimeout);
  CHECK(g.service == gd.service);
  CHECK(g.maxCallAge == gd.maxCallAge);
  CHECK(g.tlsCertFile.empty());
  CHECK(g.tlsClientCaFile.empty());
}

TEST_CASE("idem gateway takes its options from the configuration file's [gateway], flags first",
          "[tools][config]") {
  TempDir dir("idem-gateway-config");
  const auto file = dir / "gateway.toml";
  writeFile(file, "app = \"bank\"\ndir = \"" + (dir / "w").string() +
                      "\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nname = \"from-file\"\n"
                      "tls_cert_file = \"/nonexistent/gw.crt\"\ntls_key_file = \"k\"\n");
  const std::string gateway = std::string(IDEM_BINARY) + " gateway --config " + file.string();
  // The file's TLS files are used (and refused, named) ...
  const auto fromFile = test::runShell(gateway + " 2>&1");
  CHECK(fromFile.exitCode == 1);
  CHECK_THAT(fromFile.output, Catch::Contains("/nonexistent/gw.crt"));
  // ... unless a flag names others; and an unknown key is refused with its line.
  const auto flag =
      test::runShell(gateway + " --tls-cert " + (dir / "other.crt").string() + " 2>&1");
  CHECK(flag.exitCode == 1);
  CHECK_THAT(flag.output, Catch::Contains("other.crt") && !Catch::Contains("/nonexistent"));
  writeFile(file, "[gateway]\nlisen = \"127.0.0.1:0\"\n");
  const auto typo = test::runShell(gateway + " --app bank --dir /tmp 2>&1");
  CHECK(typo.exitCode == 1);
  CHECK_THAT(typo.output, Catch::Contains(":2:1: unknown key 'gateway.lisen'"));
}

TEST_CASE("a configuration file sets what it names and refuses unknown keys and wrong types",
          "[tools][config]") {
  TempDir dir("idem-config");
  const auto file = dir / "run.toml";
  writeFile(file, R"(app = "bank"
endpoints = ["accounts", "transfers"]
dir = "/srv/bank"
[endpoint]
batch_size = 64
verify_determinism = true
[endpoint.retry]
first_delay = "250ms"
[endpoint.retention]
history_horizon = "2d"
[embedded]
lease_timeout = "5s"
[nats]
ack_wait = "1m"
replicas = 3
)");
  const tools::RunConfig config = tools::loadRunConfig(file);
  CHECK(config.app == "bank");
  CHECK(config.serve.endpoints.size() == 2);
  CHECK(config.serve.endpoint.batchSize == 64);
  CHECK(config.serve.endpoint.verifyDeterminism);
  CHECK(config.serve.endpoint.retry.firstDelay == std::chrono::milliseconds(250));
  CHECK(config.serve.endpoint.retention.historyHorizon == std::chrono::hours(48));
  CHECK(config.serve.embedded.leaseTimeout == std::chrono::seconds(5));
  CHECK(config.serve.nats.ackWait == std::chrono::minutes(1));
  CHECK(config.serve.nats.replicas == 3);
  CHECK(config.serve.endpoint.snapshotEvery == 1);  // not named: the default

  auto refusal = [&](const std::string& text) {
    writeFile(file, text);
    try {
      (void)tools::loadRunConfig(file);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    FAIL("loaded: " << text);
    return std::string();
  };
  CHECK_THAT(refusal("[endpoint]\nbatch_sise = 3\n"),
             Catch::Contains(file.string() + ":2:1: unknown key 'endpoint.batch_sise'"));
  CHECK_THAT(refusal("endpoints = \"accounts\"\n"),
             Catch::Contains("'endpoints' must be an array of strings (it is a string)"));
  CHECK_THAT(refusal("[endpoint.retry]\nfirst_delay = 1000\n"),
             Catch::Contains(":2:15: 'endpoint.retry.first_delay' must be a duration"));
  CHECK_THAT(refusal("[endpoint]\nbatch_size = -1\n"),
             Catch::Contains("'endpoint.batch_size' must be an integer from 0 to"));
  CHECK_THAT(refusal("[embedded]\nlease_timeout = \"5 seconds\"\n"),
             Catch::Contains("not a duration"));
  CHECK_THAT(refusal("dir = \n"), Catch::Contains(file.string() + ":1:"));
  CHECK_THAT(refusal("log_format = \"xml\"\n"), Catch::Contains("'log_format' must be"));
}

TEST_CASE("[per_endpoint.NAME] overrides [endpoint] for one endpoint, field by field",
          "[tools][config]") {
  TempDir dir("idem-config");
  const auto file = dir / "run.toml";
  // [per_endpoint] before [endpoint]: each override is read over [endpoint] all the same.
  writeFile(file, R"(endpoints = ["accounts", "transfers"]
[per_endpoint.transfers]
batch_size = 8
[per_endpoint.transfers.retry]
delayed_retries = 9
[endpoint]
batch_size = 64
verify_determinism = true
[endpoint.retry]
first_delay = "250ms"
)");
  const tools::RunConfig config = tools::loadRunConfig(file);
  const EndpointOptions& accounts = config.serve.endpointOptions("accounts");
  const EndpointOptions& transfers = config.serve.endpointOptions("transfers");
  CHECK(accounts.batchSize == 64);
  CHECK(accounts.retry.delayedRetries == EndpointOptions{}.retry.delayedRetries);
  CHECK(transfers.batchSize == 8);
  CHECK(transfers.retry.delayedRetries == 9);
  CHECK(transfers.verifyDeterminism);                                   // from [endpoint]
  CHECK(transfers.retry.firstDelay == std::chrono::milliseconds(250));  // from [endpoint.retry]
  CHECK(config.serve.perEndpoint.size() == 1);

  // A flag overrides the file for every endpoint, those with a section of their own too.
  tools::ServeOptions flagged = config.serve;
  flagged.setNoFsync();
  CHECK_FALSE(flagged.endpointOptions("transfers").durable);
  CHECK_FALSE(flagged.endpointOptions("accounts").durable);

  writeFile(file, "[per_endpoint.transfers]\nbatch_sise = 3\n");
  CHECK_THROWS_WITH(tools::loadRunConfig(file),
                    Catch::Contains(":2:1: unknown key 'per_endpoint.transfers.batch_sise'"));
  writeFile(file, "[per_endpoint]\ntransfers = 3\n");
  CHECK_THROWS_WITH(tools::loadRunConfig(file),
                    Catch::Contains("'per_endpoint.transfers' must be a table"));
}

TEST_CASE("idem run refuses a configuration with options for an endpoint the app has not",
          "[tools][config]") {
  TempDir dir("idem-config");
  writeFile(dir / "run.toml",
            "app = \"bank\"\nendpoints = [\"accounts\"]\n[per_endpoint.acounts]\n"
            "batch_size = 1\n[per_endpoint.transfers]\nbatch_size = 2\n"
            "[per_endpoint.nowhere]\nbatch_size = 3\n");
  const Result r =
      idem("run --config " + (dir / "run.toml").string() + " --dir " + dir.path().string());
  CHECK(r.exitCode == 1);
  CHECK_THAT(r.output, Catch::Contains("[per_endpoint] names 'acounts', 'nowhere', not an "
                                       "endpoint of app bank (it has accounts, transfers, "
                                       "notifications)"));
  CHECK_FALSE(std::filesystem::exists(dir / "stores"));  // refused before serving anything
}

TEST_CASE("an endpoint's own section reaches the endpoint it names, not the others",
          "[tools][process][config]") {
  TempDir dir("idem-config");
  const std::string d = dir.path().string();
  // accounts takes no input above 16 bytes, so an OpenAccount goes to its error queue; the
  // transfers endpoint keeps the default limit.
  writeFile(dir / "run.toml",
            "app = \"bank\"\nendpoints = [\"accounts\", \"transfers\"]\n"
            "[per_endpoint.accounts]\nmax_message_bytes = 16\n");
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start("bank",
                   {IDEM_BINARY, "run", "--config", (dir / "run.toml").string(), "--dir", d});
  auto queue = [&](const std::string& endpoint) {
    for (const auto& q : nlohmann::json::parse(idem("queues --dir " + d + " --json").output)) {
      if (q["endpoint"] == endpoint) return q;
    }
    return nlohmann::json{};
  };
  REQUIRE(idem("send --app bank --create --dir " + d + " --type OpenAccount --json " +
               "'{\"accountId\":\"a\",\"initialBalance\":5}'")
              .exitCode == 0);
  waitUntil([&] { return queue("accounts")["errors"] == 1; });
  // transfers keeps the default limit: it takes the transfer and sends a hold to accounts,
  // which refuses that too.
  REQUIRE(idem("send --app bank --dir " + d + " --type StartTransfer --json " +
               "'{\"transferId\":\"t\",\"from\":\"a\",\"to\":\"b\",\"amount\":\"1\"}'")
              .exitCode == 0);
  waitUntil([&] { return queue("accounts")["errors"] == 2; });
  const nlohmann::json transfers = queue("transfers");
  CHECK(transfers["errors"] == 0);
  CHECK(transfers["ready"] == 0);
  stop(supervisor, "bank");
  CHECK(supervisor.exitStatus("bank") == 0);
}

TEST_CASE("idem run serves /metrics, /healthz and /readyz, configured by file and flags",
          "[tools][process][admin]") {
  TempDir dir("idem-admin");
  const std::string d = dir.path().string();
  // The file names a workspace the flag overrides, and the admin listener (port 0: any free).
  writeFile(dir / "run.toml", "app = \"bank\"\nendpoints = [\"accounts\"]\ndir = \"" + d +
                                  "/not-this-one\"\nadmin = \"127.0.0.1:0\"\n"
                                  "[endpoint]\nbatch_size = 8\n");
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start("accounts",
                   {IDEM_BINARY, "run", "--config", (dir / "run.toml").string(), "--dir", d});
  const int port = adminPort(dir / "logs" / "accounts.log");
  CHECK(get(port, "/healthz").status == 200);
  waitUntil([&] { return get(port, "/readyz").status == 200; });
  CHECK_FALSE(std::filesystem::exists(d + "/not-this-one"));

  REQUIRE(idem("send --app bank --dir " + d + " --type OpenAccount --json " +
               "'{\"accountId\":\"a\",\"initialBalance\":5}'")
              .exitCode == 0);
  const std::string series = "{endpoint=\"accounts\",partition=\"accounts\"}";
  HttpAnswer metrics;
  waitUntil([&] {
    metrics = get(port, "/metrics");
    return metrics.body.find("idem_processed_total" + series + " 1\n") != std::string::npos;
  });
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.body, Catch::Contains("# TYPE idem_processed_total counter\n"));
  CHECK_THAT(metrics.body, Catch::Contains("# TYPE idem_batch_duration_seconds histogram\n"));
  CHECK_THAT(metrics.body, Catch::Contains("idem_commit_duration_seconds_count" + series));
  CHECK_THAT(metrics.body,
             Catch::Contains("idem_batch_duration_seconds_bucket{endpoint=\"accounts\","
                             "partition=\"accounts\",le=\"+Inf\"}"));
  CHECK_THAT(metrics.body, Catch::Contains("idem_queue_ready" + series + " 0\n"));
  CHECK_THAT(metrics.body, Catch::Contains("idem_non_determinism_errors_total" + series + " 0\n"));
  CHECK_THAT(metrics.body, Catch::Contains("idem_ready 1\n"));
  CHECK(get(port, "/nope").status == 404);
  CHECK(std::filesystem::exists(dir / "stores" / "accounts"));  // --dir won over the file

  stop(supervisor, "accounts");
  CHECK(supervisor.exitStatus("accounts") == 0);
}

TEST_CASE("/readyz answers 503 while the process drains, until it exits",
          "[tools][process][admin]") {
  TempDir dir("idem-drain");
  const std::string gate = (dir / "gate").string();
  writeFile(gate, "");  // while it exists, a Ping holds endpoint a inside its batch
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start("a",
                   {IDEM_TEST_ENDPOINT_BINARY, "--endpoint", "a", "--dir", dir.path().string(),
                    "--admin", "127.0.0.1:0"},
                   {"IDEM_TEST_PING_GATE=" + gate});
  const int port = adminPort(dir / "logs" / "a.log");
  waitUntil([&] { return get(port, "/readyz").status == 200; });
  {
    EmbeddedTransportOptions options;
    options.busDirectory = tools::Workspace{dir.path()}.bus();
    EmbeddedTransport bus(options);
    const EdgeAddress address{MessageId::forEdge("drain", "ping-1"), "a",
                              std::chrono::system_clock::now()};
    Outbound ping =
        edgeOutbound(address, capnp::typeId<Ping>(),
                     edgeMessage<Ping>(address, [](Ping::Builder p) { p.setCounterId("c0"); }));
    bus.publish(std::span(&ping, 1));
  }
  waitUntil([&] { return std::filesystem::exists(gate + ".held"); });

  supervisor.kill("a", SIGTERM);
  HttpAnswer ready;
  waitUntil([&] {
    ready = get(port, "/readyz");
    return ready.status != 200;
  });
  CHECK(ready.status == 503);
  CHECK(ready.body == "draining\n");
  CHECK(get(port, "/healthz").status == 200);
  CHECK_THAT(get(port, "/metrics").body, Catch::Contains("idem_ready 0\n"));
  CHECK(supervisor.running("a"));  // the batch holding the Ping is not finished yet

  std::filesystem::remove(gate);
  waitUntil([&] { return !supervisor.running("a"); });
  CHECK(supervisor.exitStatus("a") == 0);
  CHECK_THAT(readFile(dir / "logs" / "a.log"), Catch::Contains("drained and stopped"));
}

TEST_CASE("over NATS, /metrics has each served endpoint's pending and ack-pending counts",
          "[tools][process][admin][nats]") {
  NatsServer server;
  TempDir dir("idem-nats-metrics");
  const std::string gate = (dir / "gate").string();
  writeFile(gate, "");  // the first Ping holds endpoint a (batches of one) inside its batch
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start("a",
                   {IDEM_TEST_ENDPOINT_BINARY, "--endpoint", "a", "--dir", dir.path().string(),
                    "--admin", "127.0.0.1:0", "--transport", server.url(), "--batch", "1"},
                   {"IDEM_TEST_PING_GATE=" + gate});
  const int port = adminPort(dir / "logs" / "a.log");
  waitUntil([&] { return get(port, "/readyz").status == 200; });
  const std::string series = "{endpoint=\"a\",partition=\"a\"}";
  CHECK_THAT(get(port, "/metrics").body, Catch::Contains("idem_queue_ready" + series + " 0\n"));
  {
    NatsTransportOptions options = natsOptionsFor(server.url());
    NatsTransport bus(options);
    std::vector<Outbound> pings;
    for (int i = 0; i < 3; ++i) {
      const EdgeAddress address{MessageId::forEdge("nats-metrics", "ping-" + std::to_string(i)),
                                "a", std::chrono::system_clock::now()};
      pings.push_back(
          edgeOutbound(address, capnp::typeId<Ping>(),
                       edgeMessage<Ping>(address, [](Ping::Builder p) { p.setCounterId("c0"); })));
    }
    bus.publish(pings);
  }
  waitUntil([&] { return std::filesystem::exists(gate + ".held"); });
  // One Ping leased and held, the two others not delivered yet (or some of them fetched ahead).
  HttpAnswer metrics;
  waitUntil([&] {
    metrics = get(port, "/metrics");
    const std::regex ready("idem_queue_ready\\{endpoint=\"a\",partition=\"a\"\\} (\\d+)\n");
    const std::regex inFlight("idem_queue_in_flight\\{endpoint=\"a\",partition=\"a\"\\} (\\d+)\n");
    std::smatch r;
    std::smatch f;
    if (!std::regex_search(metrics.body, r, ready) ||
        !std::regex_search(metrics.body, f, inFlight)) {
      return false;
    }
    return std::stoi(r[1]) + std::stoi(f[1]) == 3 && std::stoi(f[1]) >= 1;
  });
  CHECK_THAT(metrics.body, Catch::Contains("idem_queue_errors" + series + " 0\n"));
  std::filesystem::remove(gate);
  waitUntil([&] {
    return get(port, "/metrics").body.find("idem_queue_in_flight" + series + " 0\n") !=
           std::string::npos;
  });
  CHECK_THAT(get(port, "/metrics").body, Catch::Contains("idem_queue_ready" + series + " 0\n"));
  stop(supervisor, "a");
  CHECK(supervisor.exitStatus("a") == 0);
}

TEST_CASE("idem run tells systemd it is ready and feeds its watchdog", "[tools][process][admin]") {
  TempDir dir("idem-notify");
  const std::string socketPath = (dir / "notify.sock").string();
  const int socket = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(socket >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socketPath.c_str());
  REQUIRE(::bind(socket, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  const timeval patience{30, 0};  // a hang fails the test instead of blocking it
  ::setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  auto receive = [&] {
    char buffer[512];
    const ssize_t n = ::recv(socket, buffer, sizeof buffer, 0);
    REQUIRE(n > 0);
    return std::string(buffer, static_cast<std::size_t>(n));
  };

  tools::Supervisor supervisor(dir / "logs");
  supervisor.start(
      "accounts",
      {IDEM_BINARY, "run", "--app", "bank", "--endpoint", "accounts", "--dir", dir.path().string()},
      {"NOTIFY_SOCKET=" + socketPath, "WATCHDOG_USEC=200000"});
  const std::string ready = receive();
  CHECK_THAT(ready, Catch::StartsWith("READY=1\nSTATUS=serving accounts"));
  CHECK(receive() == "WATCHDOG=1");
  CHECK(receive() == "WATCHDOG=1");
  stop(supervisor, "accounts");
  std::string last;
  do {
    last = receive();
  } while (last == "WATCHDOG=1");
  CHECK(last == "STOPPING=1");
  ::close(socket);
}

TEST_CASE("idem run --log-format json logs dead letters with message, entity, handler, reason",
          "[tools][process]") {
  TempDir dir("idem-logs");
  const std::string d = dir.path().string();
  tools::Supervisor supervisor(dir / "logs");
  supervisor.start("accounts",
                   {IDEM_BINARY, "run", "--app", "bank", "--endpoint", "accounts", "--dir", d,
                    "--log-format", "json"},
                   {"SPDLOG_LEVEL=warn"});
  // Settling a hold that was never placed: a permanent failure, to the error queue.
  const Result sent =
      idem("send --app bank --create --dir " + d +
           " --type SettleHold --json '{\"transferId\":\"t-9\",\"accountId\":\"x\"}'");
  REQUIRE(sent.exitCode == 0);
  const std::string id = sent.output.substr(0, 32);
  const auto log = dir / "logs" / "accounts.log";
  waitUntil([&] { return readFile(log).find("dead letter: message " + id) != std::string::npos; });
  stop(supervisor, "accounts");

  bool found = false;
  std::istringstream lines(readFile(log));
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    const nlohmann::json record = nlohmann::json::parse(line);  // every line is one JSON object
    CHECK(record.contains("time"));
    CHECK(record["level"] != "info");  // SPDLOG_LEVEL=warn
    const std::string message = record["message"];
    if (message.find("dead letter: message " + id) == std::string::npos) continue;
    found = true;
    CHECK(record["level"] == "error");
    CHECK_THAT(message, Catch::Contains("entity account/x"));
    CHECK_THAT(message, Catch::Contains("handler bank."));
    CHECK_THAT(message, Catch::Contains("failed"));
  }
  CHECK(found);
}

TEST_CASE("stats files of processes that are gone are removed, those of live ones kept",
          "[tools]") {
  TempDir dir("idem-stats");
  const tools::Workspace workspace{dir.path()};
  std::filesystem::create_directories(workspace.statsDirectory());
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  REQUIRE(::waitpid(gone, nullptr, 0) == gone);  // reaped: its pid names no process now
  writeFile(tools::statsFile(workspace, "accounts", gone), "{}");
  writeFile(tools::statsFile(workspace, "transfers", ::getpid()), "{}");
  writeFile(workspace.statsDirectory() / "notes.txt", "kept");
  REQUIRE(idem("send --app bank --create --dir " + dir.path().string() +
               " --type OpenAccount --json '{\"accountId\":\"a\"}'")
              .exitCode == 0);
  REQUIRE(idem("queues --dir " + dir.path().string()).exitCode == 0);
  CHECK_FALSE(std::filesystem::exists(tools::statsFile(workspace, "accounts", gone)));
  CHECK(std::filesystem::exists(tools::statsFile(workspace, "transfers", ::getpid())));
  CHECK(std::filesystem::exists(workspace.statsDirectory() / "notes.txt"));
}

TEST_CASE("metricsText writes the Prometheus text format with cumulative buckets and escaping",
          "[admin]") {
  admin::EndpointSample sample;
  sample.endpoint = "a\"b";
  sample.partition = "a\"b";
  sample.stats.processed = 7;
  sample.stats.batchLatency.record(std::chrono::microseconds(80));  // bucket 0.0001
  sample.stats.batchLatency.record(std::chrono::milliseconds(3));   // bucket 0.005
  sample.stats.batchLatency.record(std::chrono::seconds(60));       // +Inf only
  sample.queue = QueueStats{"a\"b", 4, 1, 2, 3};
  const std::string text = admin::metricsText({sample}, false);
  const std::string labels = R"(endpoint="a\"b",partition="a\"b")";
  CHECK_THAT(text, Catch::StartsWith("# HELP idem_ready "));
  CHECK_THAT(text, Catch::Contains("\nidem_ready 0\n"));
  CHECK_THAT(text, Catch::Contains("idem_processed_total{" + labels + "} 7\n"));
  CHECK_THAT(text, Catch::Contains("idem_batch_duration_seconds_bucket{" + labels +
                                   ",le=\"0.0001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("idem_batch_duration_seconds_bucket{" + labels +
                                   ",le=\"0.0025\"} 1\n"));
  CHECK_THAT(
      text, Catch::Contains("idem_batch_duration_seconds_bucket{" + labels + ",le=\"0.005\"} 2\n"));
  CHECK_THAT(text,
             Catch::Contains("idem_batch_duration_seconds_bucket{" + labels + ",le=\"10\"} 2\n"));
  CHECK_THAT(text,
             Catch::Contains("idem_batch_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("idem_batch_duration_seconds_count{" + labels + "} 3\n"));
  CHECK_THAT(text, Catch::Contains("idem_batch_duration_seconds_sum{" + labels + "} 60.00308\n"));
  CHECK_THAT(text, Catch::Contains("idem_queue_errors{" + labels + "} 3\n"));
  // Each family once, HELP and TYPE first.
  std::size_t types = 0;
  for (std::size_t at = text.find("# TYPE"); at != std::string::npos;
       at = text.find("# TYPE", at + 1)) {
    ++types;
  }
  CHECK(types == 19);
}

}  // namespace idem::test
