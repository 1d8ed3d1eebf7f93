// SimWorld: deterministic multi-endpoint runs with crash injection.
#include "tests/sim_world.h"

#include <catch2/catch.hpp>
#include <set>

namespace idem::test {

SimWorld::SimWorld(std::uint64_t seed, SimulationFaults faults)
    : dir("idem-sim"), transport(seed, faults) {}

std::filesystem::path SimWorld::storeOf(const std::string& name) const {
  return dir.path() / ("store-" + name);
}

void SimWorld::open(const std::string& name, Running& running) {
  EndpointOptions options = running.options;
  options.storeDirectory = storeOf(name);
  options.durable = false;  // no fsync: the tests crash objects, not the machine
  options.clock = [this] { return transport.now(); };
  options.faultHook = [&running](FaultPoint point) {
    auto it = running.crashPlan.find(point);
    if (it == running.crashPlan.end()) return;
    if (++it->second.first == it->second.second) throw SimulatedCrash{toString(point)};
  };
  running.endpoint = std::make_unique<Endpoint>(running.factory(), transport, options);
}

void SimWorld::add(const std::string& name, HandlersFactory factory, EndpointOptions options) {
  Running& running = endpoints_[name];
  running.factory = std::move(factory);
  running.options = std::move(options);
  open(name, running);
}

void SimWorld::restart(const std::string& name) {
  Running& running = endpoints_.at(name);
  running.endpoint.reset();
  transport.expireLeases(name);
  open(name, running);
}

void SimWorld::redeploy(const std::string& name, HandlersFactory factory) {
  endpoints_.at(name).factory = std::move(factory);
  restart(name);
}

void SimWorld::closeAll() {
  for (auto& [name, running] : endpoints_) running.endpoint.reset();
}

void SimWorld::crashAt(const std::string& name, FaultPoint point, unsigned occurrence) {
  endpoints_.at(name).crashPlan[point] = {0, occurrence};
}

unsigned SimWorld::runUntilQuiet(unsigned maxRounds) {
  unsigned crashes = 0;
  std::set<std::string> leasesHeld;  // crashed endpoints whose deliveries are still leased
  for (unsigned round = 0; round < maxRounds; ++round) {
    std::size_t handled = 0;
    for (auto& [name, running] : endpoints_) {
      try {
        handled += running.endpoint->processBatch();
      } catch (const SimulatedCrash&) {
        ++crashes;
        running.endpoint.reset();  // the process died; its leases run on
        open(name, running);
        leasesHeld.insert(name);
        if (afterCrash) afterCrash(name);
        handled = 1;
      }
    }
    if (handled > 0) continue;
    if (!leasesHeld.empty()) {
      transport.advance(kCrashedLeaseTimeout);
      for (const std::string& name : leasesHeld) transport.expireLeases(name);
      leasesHeld.clear();
      continue;
    }
    std::size_t pending = 0;
    for (auto& [name, running] : endpoints_) pending += transport.pending(name);
    if (pending == 0) return crashes;
    transport.advance(std::chrono::milliseconds(500));
  }
  FAIL("the queues did not drain within " << maxRounds << " rounds (O8)");
  return crashes;
}

}  // namespace idem::test
