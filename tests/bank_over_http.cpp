// BankOverHttp: the bank's endpoints and a gateway as processes for the HTTP tests.
#include "tests/bank_over_http.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "idem/embedded_transport.h"
#include "tools/apps.h"
#include "tools/store_view.h"

namespace idem::test {

BankOverHttp::BankOverHttp(std::vector<std::string> gatewayFlags, std::string_view dirPrefix)
    : dir_(dirPrefix), supervisor_(dir_ / "logs"), gatewayFlags_(std::move(gatewayFlags)) {}

void BankOverHttp::startEndpoints(const std::string& crashAt) {
  std::vector<std::string> argv{IDEM_BINARY,  "run",           "--app",      "bank",
                                "--endpoint", "accounts",      "--endpoint", "transfers",
                                "--endpoint", "notifications", "--dir",      workspace().string(),
                                "--no-fsync"};
  std::vector<std::string> environment;
  if (!crashAt.empty()) {
    argv.insert(argv.end(), {"--lease-ms", "1000"});
    environment.push_back("IDEM_CRASH_AT=" + crashAt);
  }
  supervisor_.start("bank", argv, environment);
}

int BankOverHttp::endpointsExitStatus() {
  for (int i = 0; i < 6000 && supervisor_.running("bank"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (supervisor_.running("bank")) return -1;
  return *supervisor_.exitStatus("bank");
}

void BankOverHttp::stopEndpoints() {
  supervisor_.kill("bank", SIGTERM);
  while (supervisor_.running("bank")) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void BankOverHttp::startGateway() {
  std::filesystem::remove(portFile());
  std::vector<std::string> argv = {
      IDEM_BINARY,          "gateway",  "--app",       "bank",        "--dir",
      workspace().string(), "--listen", "127.0.0.1:0", "--port-file", portFile().string()};
  argv.insert(argv.end(), gatewayFlags_.begin(), gatewayFlags_.end());
  if (supervisor_.exitStatus("gateway") || supervisor_.running("gateway")) {
    supervisor_.restart("gateway");
  } else {
    supervisor_.start("gateway", argv);
  }
  // Not a timing assertion: the port file appears once the gateway listens.
  for (int i = 0; i < 3000 && !std::filesystem::exists(portFile()); ++i) {
    REQUIRE(supervisor_.running("gateway"));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(std::filesystem::exists(portFile()));
  std::ifstream(portFile()) >> port_;
}

void BankOverHttp::killGateway() { supervisor_.kill("gateway", SIGKILL); }

std::string BankOverHttp::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

HttpResult BankOverHttp::post(const std::string& path, const std::string& key,
                              const std::string& json) {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!key.empty()) headers.push_back("Idempotency-Key: " + key);
  return httpCall("POST", url(path), headers, json);
}

HttpResult BankOverHttp::call(const std::string& method, const std::string& path,
                              const std::string& json) {
  std::vector<std::string> headers;
  if (!json.empty()) headers.push_back("Content-Type: application/json");
  return httpCall(method, url(path), headers, json);
}

int BankOverHttp::startTransferExecutions(const std::string& transferId) const {
  const tools::StoreView view(workspace() / "stores" / "transfers", tools::findApp("bank"),
                              "transfers");
  const auto entity = view.findEntity("transfer/" + transferId);
  if (!entity) return 0;
  int n = 0;
  for (const auto& row : view.history(entity->number)) n += row.messageTypeName == "StartTransfer";
  return n;
}

std::uint64_t BankOverHttp::readyIn(const std::string& endpoint) const {
  EmbeddedTransportOptions o;
  o.busDirectory = workspace() / "bus";
  EmbeddedTransport bus(o);
  const QueueStats q = bus.queue(endpoint);
  return q.ready + q.inFlight;
}

}  // namespace idem::test
