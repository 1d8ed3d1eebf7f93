// Publisher: JetStream publishes in flight together, returning only when every one has its
// PubAck. Each call uses a JetStream context of its own (from a pool), so that concurrent
// callers' acknowledgements and failures never mix.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "framework/nats_client.h"

namespace idem::detail::nats {

class Publisher {
 public:
  // `nc` must outlive the publisher.
  Publisher(natsConnection* nc, std::chrono::milliseconds timeout);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Publishes every message (taking them) and returns once the server acknowledged each (a
  // duplicate dropped by Nats-Msg-Id counts as acknowledged). Throws idem::Error when one is
  // refused or not acknowledged within the timeout; any subset may have been stored then. The
  // kind: kPermanent, naming the first such message, when one can never be accepted (refused
  // before sending, e.g. over the server's max_payload, or a PubAck error kindOf() calls
  // permanent), even if others timed out; else kTransient on a timeout; else kOverloaded when a
  // refusal says storage is full; else kTransient. Thread-safe.
  void publishAll(std::vector<MsgPtr> messages);

  struct Slot;  // one JetStream context and its counters (nats_publisher.cpp)

 private:
  Slot& take();
  void give(Slot& slot);

  natsConnection* nc_;
  std::chrono::milliseconds timeout_;
  std::mutex lock_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
};

}  // namespace idem::detail::nats
