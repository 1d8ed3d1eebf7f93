// Host: runs a process's endpoints, each on its own thread, until SIGTERM or SIGINT, then drains:
// every endpoint finishes its batch (commit, publish, confirm, ack) before run() returns.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <stop_token>
#include <vector>

#include "idem/endpoint.h"

namespace idem {

class Host {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread, so that the threads run() starts inherit
  // the mask and the signals are taken by run() alone. Construct it before starting any thread
  // of your own. One Host per process.
  Host();
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // `endpoint` must outlive run().
  void add(Endpoint& endpoint);
  // Runs `task` on a thread of its own beside the endpoints (a worker such as the call runner):
  // it must return soon after its stop token is requested. A task that throws stops the host as
  // a failing endpoint does. What `task` refers to must outlive run().
  void add(std::function<void(std::stop_token)> task);

  // Runs every endpoint until SIGTERM, SIGINT or requestStop(), then waits for all of them to
  // drain. If an endpoint stops with an error, the others are stopped too and the first error
  // is rethrown.
  void run();

  // Async-signal-safe and thread-safe.
  void requestStop() noexcept { stopRequested_.store(true); }

  // True from the moment run() starts to drain (a stop signal, requestStop() or an endpoint's
  // failure) on, also after run() returned: what a readiness probe answers "not ready" to.
  // Thread-safe.
  bool draining() const noexcept { return draining_.load(); }

 private:
  std::vector<Endpoint*> endpoints_;
  std::vector<std::function<void(std::stop_token)>> tasks_;
  std::atomic<bool> stopRequested_{false};
  std::atomic<bool> draining_{false};
};

}  // namespace idem
