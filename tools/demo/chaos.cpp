// Chaos: timings drawn from the demo's seed (the kills land at whatever the processes are doing).
#include "tools/demo/chaos.h"

#include <signal.h>

namespace idem::tools::demo {

Chaos::Chaos(Supervisor& supervisor, std::vector<std::string> processes, std::uint64_t seed,
             std::chrono::milliseconds killEvery)
    : supervisor_(supervisor),
      processes_(std::move(processes)),
      rng_(seed ^ 0xc4a05c4a05ULL),
      killEvery_(killEvery),
      nextKill_(Clock::now() + killInterval()),
      nextDuplicates_(Clock::now()) {}

std::chrono::milliseconds Chaos::killInterval() {
  const std::int64_t every = killEvery_.count();
  return std::chrono::milliseconds(rng_.between(every / 3, every * 5 / 3));
}

void Chaos::tick(Clock::time_point now, DemoBus& bus, const std::vector<Outbound>& sent) {
  if (now >= nextKill_ && !processes_.empty()) {
    const std::string& victim = processes_[rng_.below(processes_.size())];
    supervisor_.kill(victim, SIGKILL);
    supervisor_.restart(victim);
    ++kills_;
    nextKill_ = now + killInterval();
  }
  if (now >= nextDuplicates_ && !sent.empty()) {
    std::vector<Outbound> copies;
    const auto count = rng_.between(1, 20);
    for (std::int64_t i = 0; i < count; ++i) copies.push_back(sent[rng_.below(sent.size())]);
    bus.publishDuplicates(copies);
    duplicates_ += copies.size();
    nextDuplicates_ = now + std::chrono::milliseconds(rng_.between(100, 400));
  }
}

}  // namespace idem::tools::demo
