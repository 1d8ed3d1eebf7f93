// BankOverHttp: the fixture of the HTTP tests: the bank's three endpoints in one `idem run`
// (--no-fsync) and `idem gateway` in front of them, in a temporary workspace, as real processes;
// requests through libcurl (tests/http_client.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tests/http_client.h"
#include "tests/temp_dir.h"
#include "tools/supervisor.h"

namespace idem::test {

class BankOverHttp {
 public:
  // `gatewayFlags` are appended to the gateway's command line (e.g. --service, --wait-ms).
  explicit BankOverHttp(std::vector<std::string> gatewayFlags = {},
                        std::string_view dirPrefix = "idem-http");

  std::filesystem::path workspace() const { return dir_ / "w"; }

  // Starts the endpoints (again, after they exited). With `crashAt`, they run with
  // IDEM_CRASH_AT=`crashAt` (tools/crash_hook.h) and a 1 s lease, so that what they had taken
  // comes back soon after the kill.
  void startEndpoints(const std::string& crashAt = {});
  // Waits up to 60 s for the endpoints' process to exit: its exit status (128 + the signal), or
  // -1 when it still runs (it is left running).
  int endpointsExitStatus();
  // SIGTERM, then waits until the endpoints drained and exited.
  void stopEndpoints();
  // Starts the gateway (or restarts it) and waits until it listens (REQUIREs it).
  void startGateway();
  void killGateway();

  std::string url(const std::string& path) const;
  // POST `json` to `path`, with "Idempotency-Key: `key`" unless `key` is empty.
  HttpResult post(const std::string& path, const std::string& key, const std::string& json);
  // Any method; a Content-Type of application/json when `json` is not empty.
  HttpResult call(const std::string& method, const std::string& path, const std::string& json = {});

  // How many times StartTransfer ran for transfer `transferId` (history entries of it).
  int startTransferExecutions(const std::string& transferId) const;
  // Messages ready or leased in `endpoint`'s queue on the workspace's bus.
  std::uint64_t readyIn(const std::string& endpoint) const;

 private:
  std::filesystem::path portFile() const { return dir_ / "gateway.port"; }

  TempDir dir_;
  tools::Supervisor supervisor_;
  std::vector<std::string> gatewayFlags_;
  int port_ = 0;
};

}  // namespace idem::test
