// Transport: how envelopes move between endpoints. Implemented by the embedded bus, NATS
// JetStream and the simulation used in tests; the endpoint's pipeline only sees this interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "idem/message_id.h"

namespace idem {

using Bytes = std::vector<std::byte>;
using TimePoint = std::chrono::system_clock::time_point;

// A message received under a lease: until it is acked, retried or dead-lettered, no other
// consumer receives it; when the lease runs out (consumer crashed or hung) it is delivered again.
struct Delivery {
  Bytes envelope;             // canonical envelope bytes as sent
  std::uint64_t tag = 0;      // opaque to the endpoint; names this delivery in ack/retry/deadLetter
  std::uint32_t attempt = 1;  // 1 on first delivery, counted across redeliveries and retries
};

// A message to hand to the transport, with the routing facts read once from its envelope.
struct Outbound {
  MessageId id;
  std::uint64_t messageType = 0;
  std::string destination;  // empty: publish to every endpoint subscribed to messageType
  TimePoint deliverAt{};    // epoch (the default) = deliver at once
  Bytes envelope;
  // An output of a committed version (set by the pipeline): never refused for depth. Edge
  // messages (idem::edgeMessage, `idem send`, gateways) leave it false and meet back-pressure.
  bool committed = false;
};

// Why a message was given up on. Kept beside the original bytes in the endpoint's error queue.
struct ErrorReport {
  std::string reason;  // one line naming what was wrong, e.g. "unknown message type 0x..."
  std::string detail;  // exception text or diagnostic; may span lines
  std::uint32_t attempts = 0;
  TimePoint failedAt{};
};

// One message in an endpoint's error queue, as a transport's operator interface lists it.
struct ErrorEntry {
  std::uint64_t id = 0;  // names it within the endpoint's error queue (the bus: unique in the bus)
  Bytes envelope;        // the original bytes, as sent
  ErrorReport report;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Routes published messages of `messageType` to `endpoint` from now on. Idempotent.
  virtual void subscribe(std::string_view endpoint, std::uint64_t messageType) = 0;

  // Waits up to `maxWait` for a message addressed to `endpoint`, then returns at most `maxCount`
  // deliveries (possibly none), each under a lease. Throws idem::Error (transient) when the
  // transport is unreachable.
  virtual std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                        std::chrono::milliseconds maxWait) = 0;

  // Throws idem::Error (permanent), naming what is wrong, when this transport could never
  // accept `message`: an invalid destination name, a size over its limit, no route (e.g. no
  // partition key). The pipeline calls it on every output of a handler run, before the run's
  // version is committed, so that such an output fails the run (error queue) instead of being
  // committed and then refused for ever. Must not block or do I/O. Thread-safe.
  virtual void checkOutbound(const Outbound& message) const = 0;

  // Hands every message over and returns only once all are durably accepted (confirmed).
  // Re-publishing a message with the same id and bytes is allowed and expected (re-emission).
  // Messages with `committed` set are outputs of committed versions: a transport never refuses
  // them for depth (back-pressure applies where messages enter, at the edge), since an endpoint
  // that cannot publish what it committed cannot ack, and two endpoints that send to each other
  // would hold each other's queues full for ever.
  // Throws idem::Error when confirmation fails; then any subset may have been accepted, and the
  // caller must not ack the inputs that produced them. The kind says whether trying again can
  // help: transient/overloaded (try again), permanent (some message in the span can never be
  // accepted; checkOutbound() names which).
  virtual void publish(std::span<const Outbound> messages) = 0;

  // Removes acknowledged deliveries for good.
  virtual void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) = 0;

  // Settles a processed batch of `endpoint`: publishes `outputs` (as publish(), confirmed), then
  // acks `acks` (as ack()); and may lease up to `maxNext` further deliveries of `endpoint`, which
  // it returns (possibly none) as receive() would have. The default does publish() then ack() and
  // leases nothing. A transport that does it all in one atomic step says so with
  // settlesAtomically(): then no crash leaves the outputs published and the inputs unacked, or
  // the inputs acked and the outputs missing. Throws what publish() throws, and then acks nothing
  // and leases nothing (an atomic transport has published nothing either).
  virtual std::vector<Delivery> settle(std::string_view endpoint, std::span<const Outbound> outputs,
                                       std::span<const std::uint64_t> acks, std::size_t maxNext) {
    (void)maxNext;
    if (!outputs.empty()) publish(outputs);
    if (!acks.empty()) ack(endpoint, acks);
    return {};
  }
  // True when settle() is one atomic, durable step (the embedded bus: one write transaction).
  virtual bool settlesAtomically() const noexcept { return false; }

  // Releases the lease and makes the delivery receivable again after `delay`, attempt + 1.
  virtual void retryLater(std::string_view endpoint, std::uint64_t tag,
                          std::chrono::milliseconds delay) = 0;

  // Moves the delivery, with its original bytes and `report`, to `endpoint`'s error queue and
  // removes it from the input queue, in one step.
  virtual void deadLetter(std::string_view endpoint, std::uint64_t tag,
                          const ErrorReport& report) = 0;
};

}  // namespace idem
