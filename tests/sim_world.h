// SimWorld: endpoints on one SimulationTransport, each over its own store in a temp directory,
// with crashes at named pipeline steps (the endpoint object is abandoned and reopened, its
// leases expire) and a loop that runs everything until the queues drain.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/simulation_transport.h"
#include "idem/edge.h"
#include "idem/endpoint.h"
#include "tests/temp_dir.h"

namespace idem::test {

class SimWorld {
 public:
  using HandlersFactory = std::function<Handlers()>;

  explicit SimWorld(std::uint64_t seed = 1, SimulationFaults faults = {});

  // Adds an endpoint whose handlers come from `factory` (called again on every restart).
  void add(const std::string& name, HandlersFactory factory, EndpointOptions options = {});
  Endpoint& endpoint(const std::string& name) { return *endpoints_.at(name).endpoint; }
  const HandlersFactory& factory(const std::string& name) { return endpoints_.at(name).factory; }
  const EndpointOptions& options(const std::string& name) const {
    return endpoints_.at(name).options;
  }
  std::filesystem::path storeOf(const std::string& name) const;
  // The endpoint is abandoned (as if its process died) and opened again on the same store.
  void restart(const std::string& name);
  // Replaces the handlers an endpoint restarts with (a deploy).
  void redeploy(const std::string& name, HandlersFactory factory);

  // Sends an edge message with id MessageId::forEdge("test", stableKey); returns the id.
  template <typename M, typename Fill>
  MessageId send(const std::string& destination, const std::string& stableKey, Fill fill) {
    MessageId id = MessageId::forEdge("test", stableKey);
    transport.inject(destination, edgeMessage<M>({id, destination, transport.now()}, fill));
    return id;
  }
  void sendRaw(const std::string& destination, Bytes envelope) {
    transport.inject(destination, std::move(envelope));
  }

  // Closes every endpoint (their stores can then be opened by the oracles).
  void closeAll();

  // Makes `name` crash (throw SimulatedCrash) the `occurrence`-th time it reaches `point`.
  void crashAt(const std::string& name, FaultPoint point, unsigned occurrence = 1);

  // Runs every endpoint round-robin, restarting crashed ones and advancing virtual time for
  // delayed messages, until nothing is pending anywhere. Returns the crashes seen. Fails the
  // test when it has not drained after `maxRounds` rounds (O8).
  // A crashed endpoint is reopened at once, but the deliveries it held come back only when
  // every endpoint is otherwise idle, after virtual time moved on by kCrashedLeaseTimeout (its
  // leases expired): whatever else is queued, and whatever `afterCrash` sends, commits first.
  // So a retry runs at a later time, on a state other inputs may have moved, and an output
  // published by the losing attempt (a ghost) would differ in bytes from the committed one.
  unsigned runUntilQuiet(unsigned maxRounds = 10000);
  static constexpr std::chrono::milliseconds kCrashedLeaseTimeout{1500};

  // Called by runUntilQuiet() with the name of an endpoint that crashed, once it reopened and
  // before its crashed deliveries come back (e.g. to send inputs for the same entities).
  std::function<void(const std::string& endpoint)> afterCrash;

  TempDir dir;
  SimulationTransport transport;

 private:
  struct Running {
    HandlersFactory factory;
    EndpointOptions options;
    std::unique_ptr<Endpoint> endpoint;
    std::map<FaultPoint, std::pair<unsigned, unsigned>> crashPlan;  // point -> (seen, crash at)
  };
  void open(const std::string& name, Running& running);

  std::map<std::string, Running> endpoints_;
};

}  // namespace idem::test
