// NatsServer: a nats-server with JetStream on a free loopback port and a temporary store
// directory, for one test. Always stopped: killed and reaped when the object is destroyed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "tests/temp_dir.h"
#include "tools/supervisor.h"

namespace idem::test {

struct NatsServerOptions {
  // The server's max_payload (headers + body of one message), written to a configuration
  // file, since nats-server 2.9 has no flag for it; 0: the server's default (1 MiB).
  std::int64_t maxPayload = 0;
};

class NatsServer {
 public:
  // Starts the server and waits until it accepts connections. Throws std::runtime_error when
  // nats-server is not installed (`make setup` installs it: the NATS tests fail, never skip) or
  // does not start within 10 s.
  explicit NatsServer(NatsServerOptions options = {});
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const noexcept { return port_; }
  const std::filesystem::path& storeDirectory() const noexcept { return store_; }

  // SIGTERM (the server flushes its streams), and waits until it exited.
  void stop();
  // SIGKILL.
  void kill();
  // Starts it again on the same port over the same store, and waits until it accepts.
  void start();
  bool running();

 private:
  void waitUntilAccepting();

  TempDir dir_;
  std::filesystem::path store_;
  std::filesystem::path binary_;
  std::filesystem::path config_;  // empty: none
  tools::Supervisor supervisor_;
  std::uint16_t port_ = 0;
};

}  // namespace idem::test
