// The benchmark endpoint: a trivial counter ("Increment" -> value + 1, one "Counted" output),
// its input envelopes, and MemoryTransport, an in-memory transport that isolates the store and
// pipeline from any bus.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "bench/bench_messages.capnp.h"
#include "idem/handlers.h"
#include "idem/transport.h"

namespace idem::bench {

constexpr const char* kEndpointName = "bench";

// "counter" entities: Increment adds one and publishes one Counted carrying the input's seq.
Handlers counterHandlers();

// The edge id of the seq-th Increment: time-ordered (MessageId::forEdge with a creation time,
// kEdgeInterval apart: the 40,000 msg/s target rate), so the applied index grows at its end as
// it would for a producer that stamps its submissions. The raw-LMDB baselines use the same ids.
constexpr std::chrono::microseconds kEdgeInterval{25};
MessageId edgeId(std::uint64_t seq, std::string_view salt = "");

// The canonical envelope of Increment{counterId = entityKey(entity), seq}, addressed to
// kEndpoint, with a stable id derived from `seq` and `salt` (so runs with different salts never
// collide in one store).
Bytes incrementEnvelope(std::uint64_t seq, std::uint64_t entity, std::string_view salt = "");
std::string entityKey(std::uint64_t entity);
// The Outbound of incrementEnvelope() for Transport::publish().
Outbound incrementOutbound(std::uint64_t seq, std::uint64_t entity, std::string_view salt = "");

// Bytes of a counter's canonical state (Counter{value}): what idem stores as a snapshot or head.
std::size_t counterStateBytes(std::uint64_t value = 12345);

// The seq of a Counted output envelope (canonical envelope bytes). Throws idem::Error
// (permanent) on bytes that are not a Counted envelope.
std::uint64_t countedSeq(std::span<const std::byte> envelope);

// What a relay or an outbox handler reads from an Increment envelope.
struct IncrementFacts {
  MessageId id;
  std::uint64_t seq = 0;
  std::string counterId;
};
// Throws idem::Error (permanent) on bytes that are not an Increment envelope.
IncrementFacts incrementFacts(std::span<const std::byte> envelope);
// The Counted output a stateless relay (or an outbox handler) emits for `input`: id derived from
// the input id, published to the subscribers of Counted.
Outbound countedOutbound(const IncrementFacts& input, std::uint64_t value = 0);

// Entity of the i-th message: a fixed pseudo-random spread over `entities` (same for every run,
// so idem and its baselines write the same keys).
std::uint64_t entityOf(std::uint64_t i, std::uint64_t entities);

// One endpoint's queue in memory; publish() hands outputs to `onPublish` (when set) and drops
// them. Single-threaded. Counts retries and dead letters, which a benchmark must not see.
class MemoryTransport : public Transport {
 public:
  void inject(Bytes envelope) { queue_.push_back(std::move(envelope)); }
  std::size_t pending() const { return queue_.size(); }
  std::uint64_t published() const { return published_; }
  std::uint64_t failures() const { return failures_; }
  std::function<void(std::span<const Outbound>)> onPublish;

  void subscribe(std::string_view, std::uint64_t) override {}
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override;
  void checkOutbound(const Outbound&) const override {}
  void publish(std::span<const Outbound> messages) override;
  void ack(std::string_view, std::span<const std::uint64_t>) override {}
  void retryLater(std::string_view, std::uint64_t, std::chrono::milliseconds) override {
    ++failures_;
  }
  void deadLetter(std::string_view, std::uint64_t, const ErrorReport&) override { ++failures_; }

 private:
  std::deque<Bytes> queue_;
  std::uint64_t nextTag_ = 1;
  std::uint64_t published_ = 0;
  std::uint64_t failures_ = 0;
};

}  // namespace idem::bench
