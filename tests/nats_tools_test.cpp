// The operator's side of NATS against a real nats-server: NatsAdmin's counts, copies that get
// past the duplicate window, stream resets, and `idem queues` / `idem errors` with --transport
// showing, retrying and purging what an endpoint process dead-lettered.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "idem/edge.h"
#include "idem/nats_admin.h"
#include "idem/nats_transport.h"
#include "tests/nats_server.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"
#include "tools/supervisor.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;

using Result = ShellResult;

// stdout only (stderr goes to the test's)
Result idem(const std::string& arguments) {
  return runShell(std::string(IDEM_BINARY) + " " + arguments);
}

Outbound rawMessage(std::string destination, std::string_view body, std::uint8_t idByte) {
  Outbound m;
  m.id.bytes[0] = idByte;
  m.id.bytes[15] = 0x77;
  m.messageType = 7;
  m.destination = std::move(destination);
  const auto* data = reinterpret_cast<const std::byte*>(body.data());
  m.envelope.assign(data, data + body.size());
  return m;
}

// `idem queues --transport` row of `endpoint` (zeros when absent).
nlohmann::json queueRow(const NatsServer& server, const std::string& endpoint) {
  const Result r = idem("queues --transport " + server.url() + " --json");
  REQUIRE(r.exitCode == 0);
  for (const auto& row : nlohmann::json::parse(r.output)) {
    if (row.at("endpoint") == endpoint) return row;
  }
  return {{"messages", 0}, {"errors", 0}};
}

// Polls (with a deadline) until `admin` counts `errors` entries in `endpoint`'s error stream.
void waitForErrors(NatsAdmin& admin, const std::string& endpoint, std::uint64_t errors) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (admin.queue(endpoint).errors != errors) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace

TEST_CASE(
    "nats admin: a copy published with its own tag reaches the endpoint inside the "
    "duplicate window, a plain re-publication does not",
    "[nats][tools]") {
  NatsServer server;
  NatsTransport nats(natsOptionsFor(server.url()));
  NatsAdmin admin(natsOptionsFor(server.url()));
  nats.subscribe("a", 7);
  const Outbound m = rawMessage("a", "payload", 1);
  nats.publish(std::span(&m, 1));
  nats.publish(std::span(&m, 1));  // the same Nats-Msg-Id: dropped by the server
  CHECK(admin.queue("a").messages == 1);
  admin.publishCopy(m, "dup-1");
  admin.publishCopy(m, "dup-2");
  admin.publishCopy(m, "dup-2");  // the same tag again: dropped
  CHECK(admin.queue("a").messages == 3);

  std::vector<Delivery> got;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    for (Delivery& d : nats.receive("a", 10, 50ms)) got.push_back(std::move(d));
  }
  REQUIRE(got.size() == 3);
  for (const Delivery& d : got) CHECK(d.envelope == m.envelope);  // byte-identical copies
  const NatsQueueStats leased = admin.queue("a");
  CHECK(leased.inFlight == 3);
  CHECK(leased.ready == 0);
  CHECK(leased.consumers == 1);
  std::vector<std::uint64_t> tags;
  for (const Delivery& d : got) tags.push_back(d.tag);
  nats.ack("a", tags);
  // The server applies acks asynchronously: the work queue empties within moments.
  const auto acked = std::chrono::steady_clock::now() + 5s;
  while (admin.queue("a").messages != 0 && std::chrono::steady_clock::now() < acked) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(admin.queue("a").messages == 0);
}

TEST_CASE(
    "nats admin: deleting an endpoint's streams forgets its messages and the duplicate "
    "window, so the same ids are delivered again",
    "[nats][tools]") {
  NatsServer server;
  NatsAdmin admin(natsOptionsFor(server.url()));
  const Outbound m = rawMessage("a", "payload", 2);
  {
    NatsTransport nats(natsOptionsFor(server.url()));
    nats.subscribe("a", 7);
    nats.publish(std::span(&m, 1));
    REQUIRE(admin.queue("a").messages == 1);
  }
  admin.deleteStreams("a");
  admin.deleteStreams("a");  // absent: no error
  CHECK(admin.queue("a").messages == 0);
  CHECK(admin.queues().empty());
  NatsTransport nats(natsOptionsFor(server.url()));
  nats.subscribe("a", 7);
  nats.publish(std::span(&m, 1));  // not dropped: the new stream never saw the id
  CHECK(admin.queue("a").messages == 1);
}

TEST_CASE(
    "idem queues and idem errors over NATS show a malformed message with its reason, "
    "retry it and purge it",
    "[nats][tools][process]") {
  NatsServer server;
  TempDir dir("idem-nats-tools");
  tools::Supervisor supervisor(dir / "logs");
  NatsAdmin admin(natsOptionsFor(server.url()));
  supervisor.start("accounts", {IDEM_BINARY, "run", "--app", "bank", "--endpoint", "accounts",
                                "--dir", (dir / "w").string(), "--transport", server.url()});
  {
    NatsTransport nats(natsOptionsFor(server.url()));
    const Outbound bad = rawMessage("accounts", "definitely not capnp", 3);
    nats.subscribe("accounts", 7);
    nats.publish(std::span(&bad, 1));
  }
  waitForErrors(admin, "accounts", 1);

  const nlohmann::json row = queueRow(server, "accounts");
  CHECK(row.at("errors") == 1);
  CHECK(row.at("messages") == 0);
  CHECK(row.at("consumers") == 1);

  Result shown = idem("errors show --transport " + server.url() + " --endpoint accounts --json");
  REQUIRE(shown.exitCode == 0);
  const auto errors = nlohmann::json::parse(shown.output);
  REQUIRE(errors.size() == 1);
  INFO(errors.dump(2));
  CHECK(!errors[0].at("reason").get<std::string>().empty());
  CHECK(errors[0].at("reason").get<std::string>().find("envelope") != std::string::npos);
  CHECK(errors[0].at("message").at("bytes") == 20);
  CHECK(errors[0].at("message").contains("unreadable"));
  const auto firstId = errors[0].at("error").get<std::uint64_t>();

  // Retried: back in the input stream (past the duplicate window), dead-lettered again.
  Result retried = idem("errors retry --transport " + server.url() + " --endpoint accounts");
  REQUIRE(retried.exitCode == 0);
  CHECK(retried.output.find("1 error(s) moved back") != std::string::npos);
  waitForErrors(admin, "accounts", 1);
  const auto again = admin.errors("accounts");
  REQUIRE(again.size() == 1);
  CHECK(again[0].id != firstId);

  Result purged = idem("errors purge --transport " + server.url() + " --endpoint accounts");
  REQUIRE(purged.exitCode == 0);
  CHECK(purged.output.find("1 error(s) purged") != std::string::npos);
  CHECK(queueRow(server, "accounts").at("errors") == 0);
  supervisor.kill("accounts", SIGTERM);
}

TEST_CASE("idem queues over NATS names a server that does not answer", "[nats][tools]") {
  const Result r = idem("queues --transport nats://127.0.0.1:1 2>&1");
  CHECK(r.exitCode != 0);
  CHECK(r.output.find("127.0.0.1:1") != std::string::npos);
}

}  // namespace idem::test

namespace idem::test {

TEST_CASE("idem run passes its NATS TLS flags to the transport", "[nats][tools]") {
  NatsServer server;
  TempDir dir("idem-nats-flags");
  const std::string run = "run --app bank --endpoint accounts --dir " + dir.path().string() +
                          " --transport " + server.url();
  // A CA file that does not exist: refused before connecting, naming the file.
  const Result r = idem(run + " --nats-ca " + (dir / "missing-ca.pem").string() + " 2>&1");
  CHECK(r.exitCode != 0);
  CHECK(r.output.find("missing-ca.pem") != std::string::npos);
}

}  // namespace idem::test
