// Chaos: the faults the demo injects while it runs: kill -9 of a random endpoint process
// (restarted at once; its leased messages come back when their leases expire) and duplicate
// deliveries (edge messages sent before, delivered again with the same id and bytes: see
// DemoBus::publishDuplicates for how they get past NATS's duplicate window).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "idem/transport.h"
#include "tools/demo/demo_bus.h"
#include "tools/demo/rng.h"
#include "tools/supervisor.h"

namespace idem::tools::demo {

class Chaos {
 public:
  using Clock = std::chrono::steady_clock;

  // `supervisor` runs the processes named `processes`; it must outlive this object.
  Chaos(Supervisor& supervisor, std::vector<std::string> processes, std::uint64_t seed,
        std::chrono::milliseconds killEvery);

  // Does whatever fault is due at `now`: a kill every killEvery/3 to 5*killEvery/3 (uniform, so
  // killEvery on average), a few duplicates of messages in `sent` every 0.1-0.4 s, delivered
  // through `bus`.
  void tick(Clock::time_point now, DemoBus& bus, const std::vector<Outbound>& sent);

  std::uint64_t kills() const { return kills_; }
  std::uint64_t duplicates() const { return duplicates_; }

 private:
  Supervisor& supervisor_;
  std::vector<std::string> processes_;
  Rng rng_;
  std::chrono::milliseconds killEvery_;
  Clock::time_point nextKill_;

  std::chrono::milliseconds killInterval();
  Clock::time_point nextDuplicates_;
  std::uint64_t kills_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace idem::tools::demo
