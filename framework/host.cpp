// Host: signal handling by sigtimedwait on a blocked mask, so that no code runs in a signal
// handler; endpoints stop through their stop tokens and drain.
#include "idem/host.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <mutex>
#include <thread>

namespace idem {

namespace {
sigset_t stopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

Host::Host() {
  sigset_t set = stopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Host::~Host() = default;

void Host::add(Endpoint& endpoint) {
  endpoints_.push_back(&endpoint);
  tasks_.emplace_back([&endpoint](std::stop_token stop) { endpoint.run(std::move(stop)); });
}

void Host::add(std::function<void(std::stop_token)> task) { tasks_.push_back(std::move(task)); }

void Host::run() {
  std::stop_source stop;
  std::mutex failureLock;
  std::exception_ptr failure;
  std::vector<std::jthread> threads;
  threads.reserve(tasks_.size());
  for (auto& task : tasks_) {
    threads.emplace_back([&] {
      try {
        task(stop.get_token());
      } catch (...) {
        std::lock_guard lock(failureLock);
        if (!failure) failure = std::current_exception();
        stop.request_stop();
      }
    });
  }

  const sigset_t set = stopSignals();
  const timespec tick{0, 50'000'000};
  while (!stop.stop_requested() && !stopRequested_.load()) {
    const int signal = sigtimedwait(&set, nullptr, &tick);
    if (signal == SIGTERM || signal == SIGINT) {
      spdlog::info("{} received: draining {} endpoint(s)", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                   endpoints_.size());
      break;
    }
  }
  draining_.store(true);
  stop.request_stop();
  threads.clear();  // joins: each endpoint completes its batch and flushes
  if (failure) std::rethrow_exception(failure);
}

}  // namespace idem
