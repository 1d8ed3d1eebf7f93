// NatsServer: finding the binary and a free port, starting, waiting, stopping.
#include "tests/nats_server.h"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace idem::test {

namespace {

constexpr const char* kName = "nats-server";

std::filesystem::path findBinary() {
  std::vector<std::filesystem::path> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string all = path;
    for (std::size_t start = 0; start <= all.size();) {
      const std::size_t colon = all.find(':', start);
      const std::size_t end = colon == std::string::npos ? all.size() : colon;
      if (end > start) dirs.emplace_back(all.substr(start, end - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  for (const char* d : {"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"}) {
    dirs.emplace_back(d);
  }
  for (const auto& dir : dirs) {
    const auto candidate = dir / kName;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error(
      "nats-server is not installed: run `make setup` (scripts/setup.sh installs it)");
}

// A loopback port nobody listens on right now (the kernel's choice for port 0).
std::uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

NatsServer::NatsServer(NatsServerOptions options)
    : dir_("idem-nats"),
      store_(dir_ / "jetstream"),
      binary_(findBinary()),
      supervisor_(dir_ / "logs") {
  if (options.maxPayload > 0) {
    config_ = dir_ / "server.conf";
    std::ofstream(config_) << "max_payload: " << options.maxPayload << "\n";
  }
  for (int attempt = 0;; ++attempt) {
    port_ = freePort();
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 2) throw;  // the port was taken between the probe and the start
      if (running()) kill();
    }
  }
}

NatsServer::~NatsServer() = default;  // the supervisor kills and reaps it

void NatsServer::start() {
  std::vector<std::string> argv{
      binary_.string(),     "-js", "-sd", store_.string(), "-a", "127.0.0.1", "-p",
      std::to_string(port_)};
  if (!config_.empty()) {
    argv.push_back("-c");
    argv.push_back(config_.string());
  }
  supervisor_.start(kName, std::move(argv));
  waitUntilAccepting();
}

void NatsServer::waitUntilAccepting() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!accepts(port_)) {
    if (!supervisor_.running(kName)) {
      throw std::runtime_error("nats-server exited at start; see " + (dir_ / "logs").string());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("nats-server did not accept connections within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void NatsServer::stop() {
  supervisor_.kill(kName, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (supervisor_.running(kName)) {
    if (std::chrono::steady_clock::now() > deadline) {
      supervisor_.kill(kName, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void NatsServer::kill() { supervisor_.kill(kName, SIGKILL); }

bool NatsServer::running() { return supervisor_.running(kName); }

namespace {
std::string nodeName(int node) { return "n" + std::to_string(node + 1); }

// True once JetStream on `url` answers an account info request (the cluster has a meta leader).
bool jetStreamReady(const std::string& url) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return false;
  jsCtx* js = nullptr;
  jsAccountInfo* info = nullptr;
  bool ready = natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
               js_GetAccountInfo(&info, js, nullptr, nullptr) == NATS_OK;
  if (info != nullptr) jsAccountInfo_Destroy(info);
  if (js != nullptr) jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return ready;
}
}  // namespace

NatsCluster::NatsCluster()
    : dir_("idem-nats-cluster"), binary_(findBinary()), supervisor_(dir_ / "logs") {
  for (int i = 0; i < kNodes; ++i) {
    ports_[i] = freePort();
    routePorts_[i] = freePort();
  }
  for (int i = 0; i < kNodes; ++i) {
    std::ofstream config(dir_ / (nodeName(i) + ".conf"));
    config << "server_name: " << nodeName(i) << "\n"
           << "listen: 127.0.0.1:" << ports_[i] << "\n"
           << "jetstream { store_dir: \"" << (dir_ / nodeName(i)).string() << "\" }\n"
           << "cluster { name: idem, listen: 127.0.0.1:" << routePorts_[i] << ", routes: [";
    for (int j = 0; j < kNodes; ++j) {
      config << (j ? ", " : "") << "nats://127.0.0.1:" << routePorts_[j];
    }
    config << "] }\n";
  }
  for (int i = 0; i < kNodes; ++i) start(i);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!jetStreamReady(url(0))) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the 3-node nats-server cluster is not ready within 30 s; see " +
                               (dir_ / "logs").string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

NatsCluster::~NatsCluster() = default;

std::string NatsCluster::urls() const {
  std::string out;
  for (int i = 0; i < kNodes; ++i) out += (i ? "," : "") + url(i);
  return out;
}

void NatsCluster::start(int node) {
  supervisor_.start(nodeName(node),
                    {binary_.string(), "-c", (dir_ / (nodeName(node) + ".conf")).string()});
  waitUntilAccepting(node);
}

void NatsCluster::waitUntilAccepting(int node) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!accepts(ports_[node])) {
    if (!supervisor_.running(nodeName(node))) {
      throw std::runtime_error("nats-server " + nodeName(node) + " exited at start; see " +
                               (dir_ / "logs").string());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("nats-server " + nodeName(node) + " did not accept within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void NatsCluster::kill(int node) { supervisor_.kill(nodeName(node), SIGKILL); }

bool NatsCluster::running(int node) { return supervisor_.running(nodeName(node)); }

}  // namespace idem::test
