// DemoDriver: a single-threaded loop. SIGINT/SIGTERM are blocked and polled with sigtimedwait,
// which is also the loop's pause, so no signal handler (and no global flag) is needed.
#include "tools/demo/demo_driver.h"

#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <set>

#include "idem/error.h"
#include "tools/apps.h"
#include "tools/demo/bank_scenario.h"
#include "tools/demo/chaos.h"
#include "tools/demo/demo_bus.h"
#include "tools/demo/orders_scenario.h"
#include "tools/demo/progress.h"
#include "tools/demo/report.h"
#include "tools/supervisor.h"
#include "tools/workspace.h"

namespace idem::tools::demo {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kWindow = 1000;       // work items sent but not ended, at most
constexpr std::size_t kPublishChunk = 500;  // edge messages per publish (one transaction)
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr auto kStopGrace = std::chrono::seconds(20);

class Interrupted : public std::exception {
 public:
  const char* what() const noexcept override { return "interrupted"; }
};

std::unique_ptr<Scenario> makeScenario(const DemoOptions& options, const Workspace& workspace) {
  if (options.app == "bank") return std::make_unique<BankScenario>(options, workspace);
  if (options.app == "orders") return std::make_unique<OrdersScenario>(options, workspace);
  fail(ErrorKind::kPermanent, "no demo for app '" + options.app + "' (bank or orders)");
}

std::uint64_t queuedMessages(DemoBus& bus) {
  std::uint64_t n = 0;
  for (const DemoQueue& q : bus.queues()) n += q.queued;
  return n;
}

// The endpoints of `app`, each once, in the order its message types name them.
std::vector<std::string> endpointsOf(const App& app) {
  std::vector<std::string> out;
  for (const App::MessageType& t : app.messageTypes()) {
    if (std::find(out.begin(), out.end(), t.endpoint) == out.end()) out.push_back(t.endpoint);
  }
  return out;
}

std::unique_ptr<DemoBus> openBus(const DemoOptions& options, const Workspace& workspace,
                                 bool resumed) {
  if (options.transport.empty()) return openEmbeddedDemoBus(workspace);
  return openNatsDemoBus(options, endpointsOf(findApp(options.app)), resumed);
}

// The scenario's processes, or `perEndpoint` processes for each of its endpoints ("<endpoint>-1",
// "<endpoint>-2", ...) when perEndpoint > 0.
std::vector<ProcessSpec> processLayout(const Scenario& scenario, unsigned perEndpoint) {
  std::vector<ProcessSpec> layout = scenario.processes();
  if (perEndpoint == 0) return layout;
  std::vector<std::string> endpoints;
  for (const ProcessSpec& p : layout) {
    for (const std::string& e : p.endpoints) {
      if (std::find(endpoints.begin(), endpoints.end(), e) == endpoints.end())
        endpoints.push_back(e);
    }
  }
  std::vector<ProcessSpec> out;
  for (const std::string& e : endpoints) {
    for (unsigned i = 1; i <= perEndpoint; ++i) out.push_back({e + "-" + std::to_string(i), {e}});
  }
  return out;
}

class Run {
 public:
  Run(const DemoOptions& options, bool resumed)
      : options_(options),
        workspace_{options.dir},
        bus_(openBus(options, workspace_, resumed)),
        supervisor_(options.dir / "logs") {
    report_.options = options;
    report_.resumed = resumed;
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
  }

  int run() {
    const auto started = Clock::now();
    // Counters are per run: the files of an earlier run's processes are not this run's work.
    // Processes of an interrupted earlier run may still be draining and writing theirs.
    std::error_code ignored;
    std::filesystem::remove_all(workspace_.statsDirectory(), ignored);
    // Every endpoint subscribes to its types before any work is sent, so no event is dropped
    // for lack of a subscriber while a process is still starting.
    const App& app = findApp(options_.app);
    for (const App::MessageType& t : app.messageTypes()) {
      bus_->subscribe(t.endpoint, t.schema.getProto().getId());
    }
    scenario_ = makeScenario(options_, workspace_);  // opens (creates) the stores first
    report_.unit = scenario_->unit();
    report_.total = scenario_->workCount();
    startProcesses();
    if (options_.chaos)
      chaos_.emplace(supervisor_, processNames_, options_.seed, options_.killEvery);
    progress_.emplace(report_.unit, report_.total);

    bool finished = false;
    try {
      for (std::vector<Outbound>& phase :
           scenario_->setupPhases(std::chrono::system_clock::now())) {
        sendAndAwait(std::move(phase));
      }
      finished = work();
    } catch (const Interrupted&) {
      progress_->finish();
      std::cerr << "interrupted: stopping the endpoint processes (they drain)...\n";
      supervisor_.stopAll(kStopGrace);
      std::cerr << "stopped. Run the same command again to finish this demo in "
                << options_.dir.string() << "\n";
      return 130;
    }
    progress_->finish();
    const auto forced = supervisor_.stopAll(kStopGrace);

    report_.invariants = scenario_->check();
    checkQueues(finished, forced);
    report_.outcomes = scenario_->outcomes();
    report_.latenciesNs = scenario_->latencies();
    report_.counts = sumStats(workspace_.statsDirectory());
    if (chaos_) {
      report_.kills = chaos_->kills();
      report_.injectedDuplicates = chaos_->duplicates();
    }
    report_.wallSeconds = std::chrono::duration<double>(Clock::now() - started).count();
    report_.print(std::cout);
    if (!options_.reportFile.empty()) report_.writeJson(options_.reportFile);
    if (finished) markFinished(options_);  // a stalled demo may still be continued
    return report_.passed() ? 0 : 1;
  }

 private:
  void startProcesses() {
    const std::string exe = currentExecutable().string();
    const unsigned perEndpoint = options_.processesPerEndpoint > 0 ? options_.processesPerEndpoint
                                 : options_.transport.empty()      ? 0
                                                                   : 2;
    for (const ProcessSpec& p : processLayout(*scenario_, perEndpoint)) {
      std::vector<std::string> argv = {exe, "run", "--app", options_.app};
      for (const std::string& e : p.endpoints) {
        argv.push_back("--endpoint");
        argv.push_back(e);
      }
      argv.insert(argv.end(), {"--dir", options_.dir.string(), "--lease-ms",
                               std::to_string(options_.lease.count())});
      if (!options_.transport.empty()) argv.insert(argv.end(), {"--transport", options_.transport});
      supervisor_.start(p.name, argv);
      processNames_.push_back(p.name);
    }
  }

  // Pauses for one poll interval; throws Interrupted on SIGINT or SIGTERM.
  void pause() {
    const timespec wait{0, std::chrono::nanoseconds(kPollInterval).count()};
    siginfo_t info;
    if (::sigtimedwait(&signals_, &info, &wait) > 0) throw Interrupted();
  }

  void publish(std::vector<Outbound>& messages) {
    for (std::size_t i = 0; i < messages.size(); i += kPublishChunk) {
      const std::size_t n = std::min(kPublishChunk, messages.size() - i);
      bus_->publish(std::span(messages).subspan(i, n));
    }
    for (Outbound& m : messages) sent_.push_back(std::move(m));
  }

  // One loop step's housekeeping: chaos, processes that died on their own, progress.
  void step(std::uint64_t ended, bool chaosOn) {
    if (chaos_ && chaosOn) chaos_->tick(Clock::now(), *bus_, sent_);
    for (const std::string& name : processNames_) {
      if (!supervisor_.running(name)) {
        ++unexpectedExits_;
        std::cerr << "\nprocess " << name << " exited on its own (status "
                  << supervisor_.exitStatus(name).value_or(-1) << "); see "
                  << (options_.dir / "logs" / (name + ".log")).string() << "; restarting\n";
        supervisor_.restart(name);
      }
    }
    const std::uint64_t queued = queuedMessages(*bus_);
    progress_->show(ended, queued, chaos_ ? chaos_->kills() : 0);
    // Progress: more items ended, or the queues shorter than ever since the last such change
    // (injected duplicates keep the queue count moving, so any change would not do).
    if (ended != lastEnded_ || queued < lowestQueued_) {
      lastEnded_ = ended;
      lowestQueued_ = queued;
      lastChange_ = Clock::now();
    }
    lastQueued_ = queued;
  }

  bool stalled() const { return Clock::now() - lastChange_ > options_.stallTimeout; }

  void sendAndAwait(std::vector<Outbound> phase) {
    std::vector<Outbound> pending;
    for (Outbound& m : phase) {
      if (!scenario_->applied(m)) pending.push_back(std::move(m));
    }
    std::vector<MessageId> ids;
    for (const Outbound& m : pending) ids.push_back(m.id);
    std::vector<Outbound> waiting = pending;
    publish(pending);
    lastChange_ = Clock::now();
    while (!waiting.empty()) {
      std::erase_if(waiting, [&](const Outbound& m) { return scenario_->applied(m); });
      step(scenario_->ended(), true);
      if (stalled()) fail(ErrorKind::kPermanent, "the demo's setup messages were not applied");
      if (!waiting.empty()) pause();
    }
  }

  // Sends the work in windows until every item ended and the queues drained. Returns false when
  // it stalled.
  bool work() {
    const std::size_t count = scenario_->workCount();
    std::size_t next = 0;
    std::uint64_t sent = 0;
    const std::uint64_t endedAtStart = scenario_->ended();
    const auto workStarted = Clock::now();
    lastChange_ = workStarted;
    for (;;) {
      const std::uint64_t ended = scenario_->ended();
      std::vector<Outbound> batch;
      while (next < count && sent < ended + kWindow) {
        Outbound m = scenario_->workItem(next++, std::chrono::system_clock::now());
        ++sent;
        if (!scenario_->applied(m)) batch.push_back(std::move(m));
      }
      if (!batch.empty()) publish(batch);
      std::vector<Outbound> followUps = scenario_->followUps(std::chrono::system_clock::now());
      if (!followUps.empty()) publish(followUps);
      const bool allEnded = next == count && ended >= count;
      if (allEnded && report_.workSeconds == 0) {
        report_.workSeconds = std::chrono::duration<double>(Clock::now() - workStarted).count();
        report_.endedThisRun = ended - endedAtStart;
      }
      step(ended, !allEnded);
      if (allEnded && lastQueued_ == 0) return true;
      if (stalled()) {
        progress_->finish();
        std::cerr << "no progress for " << options_.stallTimeout.count() << " s: giving up\n";
        report_.endedThisRun = ended - endedAtStart;
        report_.workSeconds = std::chrono::duration<double>(Clock::now() - workStarted).count();
        return false;
      }
      pause();
    }
  }

  void checkQueues(bool finished, const std::vector<std::string>& forced) {
    std::uint64_t queued = 0, errors = 0;
    std::string errorExamples;
    for (const DemoQueue& q : bus_->queues()) {
      queued += q.queued;
      errors += q.errors;
      if (q.errors == 0) continue;
      for (const ErrorEntry& e : bus_->errors(q.endpoint, 3)) {
        errorExamples += "; " + q.endpoint + ": " + e.report.reason;
      }
    }
    report_.invariants.push_back({"work finished and queues drained", finished && queued == 0,
                                  std::to_string(queued) + " messages left in the queues" +
                                      (finished ? "" : "; the work stalled")});
    report_.invariants.push_back(
        {"error queues empty", errors == 0,
         std::to_string(errors) + " messages in error queues" + errorExamples});
    std::string forcedNames;
    for (const std::string& n : forced) forcedNames += " " + n;
    report_.invariants.push_back(
        {"processes ran until stopped and drained on SIGTERM",
         unexpectedExits_ == 0 && forced.empty(),
         std::to_string(unexpectedExits_) + " exits not caused by the demo; " +
             std::to_string(forced.size()) + " had to be killed at the end" + forcedNames});
  }

  DemoOptions options_;
  Workspace workspace_;
  std::unique_ptr<DemoBus> bus_;
  Supervisor supervisor_;
  sigset_t signals_;
  std::unique_ptr<Scenario> scenario_;
  std::vector<std::string> processNames_;
  std::optional<Chaos> chaos_;
  std::optional<Progress> progress_;
  std::vector<Outbound> sent_;
  Report report_;
  std::uint64_t unexpectedExits_ = 0;
  std::uint64_t lastEnded_ = 0;
  std::uint64_t lastQueued_ = UINT64_MAX;
  std::uint64_t lowestQueued_ = UINT64_MAX;
  Clock::time_point lastChange_ = Clock::now();
};

}  // namespace

int runDemo(const DemoOptions& options, bool resumed) {
  // Block before anything else starts a thread, so the signals reach the loop only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Run run(options, resumed);
  return run.run();
}

}  // namespace idem::tools::demo
