// BusRig: one endpoint (or a bus-only relay) on a transport, fed by a sender thread and watched
// by an observer that receives the outputs, so that latency is edge send -> output received.
// runOverBus: the embedded bus, fresh bus and store per run. runRig: any transport (NATS rows).
#pragma once

#include <functional>
#include <stop_token>
#include <vector>

#include "bench/benchmarks.h"
#include "idem/transport.h"

namespace idem::bench {

enum class BusWorker {
  kEndpoint,  // an idem Endpoint running the counter handler (store + bus)
  kRelay,     // consume, publish one output, ack; no state (the bus alone)
};

struct BusRun {
  double perSecond = 0;             // timed messages / (last output observed - first timed send)
  std::vector<double> latenciesMs;  // per timed message: output received - scheduled send
};

// Sends settings.entities warm-up messages (one per entity), then settings.messages timed ones.
// rate == 0: as fast as possible with at most 4 batches in flight (closed loop); otherwise paced
// at `rate` messages/s, each message stamped with its scheduled send time (no coordinated
// omission). Throws what the worker threw.
BusRun runOverBus(const Settings& settings, BusWorker worker, double rate);

// The same rig over `transport`: the sender publishes Increments to kEndpointName, the observer
// (endpoint "observer", subscribed here to Counted) receives and acks the outputs, and `worker`
// (an Endpoint's run, or a relay) runs in its own thread until its stop token is set.
BusRun runRig(const Settings& settings, Transport& transport,
              const std::function<void(std::stop_token)>& worker, double rate);

}  // namespace idem::bench
