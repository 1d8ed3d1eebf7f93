// BusRig: one endpoint (or a bus-only relay) on a transport, fed by a sender thread and watched
// by an observer that receives the outputs, so that latency is edge send -> output received.
// runOverBus: the embedded bus, fresh bus and store per run. runRig: any transport (NATS rows).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <vector>

#include "bench/benchmarks.h"
#include "idem/transport.h"

namespace idem::bench {

// How often the paced sender publishes what has fallen due (one bus commit per tick at most).
constexpr std::chrono::microseconds kSenderTick{1000};

enum class BusWorker {
  kEndpoint,  // an idem Endpoint running the counter handler (store + bus)
  kRelay,     // consume, publish one output, ack; no state (the bus alone)
};

struct BusRun {
  double perSecond = 0;             // timed messages / (last output observed - first timed send)
  std::vector<double> latenciesMs;  // per timed message: output received - scheduled send
  // The worker's durable commits per message crossing its hop (bus: receive, settle, publish,
  // ack calls that wrote; store: its transactions), over the whole run including the warm-up.
  double commitsPerMessage = 0;
};

// Sends settings.entities warm-up messages (one per entity), then settings.messages timed ones.
// rate == 0: as fast as possible with at most 4 batches in flight (closed loop); otherwise paced
// at `rate` messages/s: every kSenderTick the sender publishes, in one call, every message whose
// scheduled time has come, each stamped with its scheduled send time, so that latency counts
// from when the message should have been sent, not from when a busy sender got to it (no
// coordinated omission). The relay and the observer settle (ack and lease the next batch) in one
// bus call, as the endpoint does. Throws what the worker threw.
BusRun runOverBus(const Settings& settings, BusWorker worker, double rate);

// The same rig over `transport`: the sender publishes Increments to kEndpointName, the observer
// (endpoint "observer", subscribed here to Counted) receives and acks the outputs, and `worker`
// (an Endpoint's run, or a relay) runs in its own thread until its stop token is set.
// commitsPerMessage is left 0 (the caller knows what its worker commits).
BusRun runRig(const Settings& settings, Transport& transport,
              const std::function<void(std::stop_token)>& worker, double rate);

// The 99th percentile of `samples` synced 4 KiB writes (pwrite + fdatasync) in `dir`, in ms: how
// slow this disk's durable commits are right now.
double fsyncP99Ms(const std::filesystem::path& dir, unsigned samples);

}  // namespace idem::bench
