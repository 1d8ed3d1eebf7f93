// The benchmark endpoint and MemoryTransport.
#include "bench/bench_endpoint.h"

#include "idem/canonical.h"
#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"

namespace idem::bench {

Handlers counterHandlers() {
  Handlers handlers(kEndpointName);
  handlers.entity<Counter>("counter").on<Increment>(
      {"increment", 1}, [](Increment::Reader m) { return std::string(m.getCounterId()); },
      [](Counter::Builder counter, Increment::Reader m, Context& ctx) {
        counter.setValue(counter.getValue() + 1);
        auto counted = ctx.publish<Counted>();
        counted.setCounterId(m.getCounterId());
        counted.setValue(counter.getValue());
        counted.setSeq(m.getSeq());
      });
  return handlers;
}

std::string entityKey(std::uint64_t entity) { return "c" + std::to_string(entity); }

namespace {
const TimePoint kBenchEpoch{std::chrono::seconds(1'770'000'000)};

EdgeAddress addressOf(std::uint64_t seq, std::string_view salt) {
  return {edgeId(seq, salt), kEndpointName, kBenchEpoch};
}
}  // namespace

MessageId edgeId(std::uint64_t seq, std::string_view salt) {
  return MessageId::forEdge("bench", std::string(salt) + "/" + std::to_string(seq),
                            kBenchEpoch + kEdgeInterval * static_cast<std::int64_t>(seq));
}

Bytes incrementEnvelope(std::uint64_t seq, std::uint64_t entity, std::string_view salt) {
  const std::string key = entityKey(entity);
  return edgeMessage<Increment>(addressOf(seq, salt), [&](Increment::Builder m) {
    m.setCounterId(key);
    m.setSeq(seq);
  });
}

Outbound incrementOutbound(std::uint64_t seq, std::uint64_t entity, std::string_view salt) {
  return edgeOutbound(addressOf(seq, salt), capnp::typeId<Increment>(),
                      incrementEnvelope(seq, entity, salt));
}

std::size_t counterStateBytes(std::uint64_t value) {
  capnp::MallocMessageBuilder state(kBuilderFirstSegmentWords);
  state.initRoot<Counter>().setValue(value);
  return canonicalOf(state.getRoot<Counter>().asReader()).size() * sizeof(capnp::word);
}

std::uint64_t countedSeq(std::span<const std::byte> envelope) {
  CanonicalReader outer(envelope, "envelope");
  auto payload = outer.root<wire::Envelope>().getPayload();
  CanonicalReader inner(std::as_bytes(std::span(payload.begin(), payload.size())), "payload");
  return inner.root<Counted>().getSeq();
}

IncrementFacts incrementFacts(std::span<const std::byte> envelope) {
  CanonicalReader outer(envelope, "envelope");
  auto e = outer.root<wire::Envelope>();
  auto payload = e.getPayload();
  CanonicalReader inner(std::as_bytes(std::span(payload.begin(), payload.size())), "payload");
  auto m = inner.root<Increment>();
  IncrementFacts facts;
  facts.id = MessageId::fromBytes({e.getId().begin(), e.getId().size()}).value_or(MessageId{});
  facts.seq = m.getSeq();
  facts.counterId = m.getCounterId();
  return facts;
}

Outbound countedOutbound(const IncrementFacts& input, std::uint64_t value) {
  const EdgeAddress address{MessageId::forEdge("relay", input.id.toHex() + "/0"), "",
                            TimePoint(std::chrono::seconds(1'770'000'000))};
  Bytes envelope = edgeMessage<Counted>(address, [&](Counted::Builder m) {
    m.setCounterId(input.counterId);
    m.setValue(value);
    m.setSeq(input.seq);
  });
  return edgeOutbound(address, capnp::typeId<Counted>(), std::move(envelope));
}

std::uint64_t entityOf(std::uint64_t i, std::uint64_t entities) {
  // splitmix64: a fixed, well-spread sequence.
  std::uint64_t z = i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z % entities + 1;
}

std::vector<Delivery> MemoryTransport::receive(std::string_view, std::size_t maxCount,
                                               std::chrono::milliseconds) {
  std::vector<Delivery> out;
  out.reserve(std::min(maxCount, queue_.size()));
  while (!queue_.empty() && out.size() < maxCount) {
    out.push_back({std::move(queue_.front()), nextTag_++, 1});
    queue_.pop_front();
  }
  return out;
}

void MemoryTransport::publish(std::span<const Outbound> messages) {
  published_ += messages.size();
  if (onPublish) onPublish(messages);
}

}  // namespace idem::bench
