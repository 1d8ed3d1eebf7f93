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

// NatsCluster: three nats-servers with JetStream clustered on loopback ports (client and
// route ports free at start), each with its own store directory, for the tests of replicated
// streams (R3). Always stopped: killed and reaped when destroyed.
class NatsCluster {
 public:
  static constexpr int kNodes = 3;
  // Starts the three and waits until JetStream answers (a meta leader is elected). Throws
  // std::runtime_error when nats-server is missing or the cluster is not ready within 30 s.
  NatsCluster();
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  // "nats://127.0.0.1:P1,nats://127.0.0.1:P2,nats://127.0.0.1:P3".
  std::string urls() const;
  std::string url(int node) const { return "nats://127.0.0.1:" + std::to_string(ports_[node]); }
  // SIGKILL of node `node` (0-2), and its start again over the same store.
  void kill(int node);
  void start(int node);
  bool running(int node);

 private:
  void waitUntilAccepting(int node);

  TempDir dir_;
  std::filesystem::path binary_;
  tools::Supervisor supervisor_;
  std::uint16_t ports_[kNodes] = {};
  std::uint16_t routePorts_[kNodes] = {};
};

}  // namespace idem::test
