// Invocation: derives output ids and builds canonical output envelopes (docs/message-ids.md).
#include "handlers/invocation.h"

#include <sodium.h>

#include <cstring>

#include "handlers/id_hash.h"
#include "idem/canonical.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"

namespace idem::detail {

namespace {
capnp::Text::Reader toText(std::string_view s) { return {s.data(), s.size()}; }

std::int64_t toNanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

MessageId outputId(const InputFacts& facts, std::uint64_t index) {
  IdHash hash("idem.output.v1");
  hash.addText(facts.endpoint);
  hash.addText(facts.entityType);
  hash.addText(facts.entityKey);
  hash.addId(facts.inputId);
  hash.addU64(index);
  return hash.finishOrdered(facts.recordedAtNs);
}
}  // namespace

Digest digestOf(const std::vector<Outbound>& messages) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof(Digest));
  for (const Outbound& m : messages) {
    std::uint8_t length[8];
    std::uint64_t n = m.envelope.size();
    for (int i = 7; i >= 0; --i, n >>= 8) length[i] = static_cast<std::uint8_t>(n & 0xFF);
    crypto_generichash_update(&state, length, sizeof length);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(m.envelope.data()),
                              m.envelope.size());
  }
  Digest digest{};
  crypto_generichash_final(&state, digest.data(), digest.size());
  return digest;
}

Invocation::Invocation(const InputFacts& facts)
    : facts_(facts),
      correlationId_(facts.correlationId.isZero() ? facts.inputId : facts.correlationId),
      context_(*this) {}

Emitted Invocation::finish() {
  Emitted emitted;
  emitted.messages.reserve(outputs_.size());
  for (std::size_t index = 0; index < outputs_.size(); ++index) {
    Output& out = outputs_[index];
    Words payload = out.message->getRoot<capnp::AnyStruct>().asReader().canonicalize();

    capnp::MallocMessageBuilder envelopeMessage(kBuilderFirstSegmentWords);
    auto envelope = envelopeMessage.initRoot<wire::Envelope>();
    MessageId id = outputId(facts_, index);
    envelope.setId(kj::arrayPtr(id.bytes.data(), id.bytes.size()));
    envelope.setMessageType(out.messageType);
    envelope.setDestination(out.destination);
    envelope.setSource(toText(facts_.endpoint));
    envelope.setCausationId(kj::arrayPtr(facts_.inputId.bytes.data(), MessageId::kSize));
    envelope.setCorrelationId(kj::arrayPtr(correlationId_.bytes.data(), MessageId::kSize));
    envelope.setRecordedAt(facts_.recordedAtNs);
    envelope.setPayload(payload.asBytes());
    envelope.setDeliverAt(out.deliverAt == TimePoint{} ? 0 : toNanos(out.deliverAt));
    Words canonical = canonicalOf(envelope.asReader());

    Outbound message;
    message.id = id;
    message.messageType = out.messageType;
    message.destination = out.destination;
    message.deliverAt = out.deliverAt;
    message.committed = true;  // published only once the run's version is durable
    auto bytes = asBytes(canonical);
    message.envelope.assign(bytes.begin(), bytes.end());
    emitted.messages.push_back(std::move(message));
  }
  emitted.digest = digestOf(emitted.messages);
  return emitted;
}

}  // namespace idem::detail

namespace idem {

TimePoint Context::now() const {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::nanoseconds(invocation_.facts_.recordedAtNs)));
}

std::uint64_t Context::random() {
  // splitmix64: a fixed, documented generator, so that the stream is reproducible anywhere.
  std::optional<std::uint64_t>& state = invocation_.randomState_;
  if (!state) {
    detail::IdHash seed("idem.random.v1");
    seed.addId(invocation_.facts_.inputId);
    state = seed.finishU64();
  }
  std::uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

MessageId Context::newId() {
  const detail::InputFacts& facts = invocation_.facts_;
  detail::IdHash hash("idem.new-id.v1");
  hash.addText(facts.endpoint);
  hash.addText(facts.entityType);
  hash.addText(facts.entityKey);
  hash.addId(facts.inputId);
  hash.addU64(invocation_.newIdCount_++);
  return hash.finishOrdered(facts.recordedAtNs);
}

const MessageId& Context::messageId() const { return invocation_.facts_.inputId; }
const MessageId& Context::correlationId() const { return invocation_.correlationId_; }
std::string_view Context::entityKey() const { return invocation_.facts_.entityKey; }
std::string_view Context::endpointName() const { return invocation_.facts_.endpoint; }

bool Context::canReply() const { return !invocation_.facts_.inputSource.empty(); }

std::string_view Context::replyDestination() const {
  if (invocation_.facts_.inputSource.empty()) {
    fail(ErrorKind::kPermanent, "reply() to message " + messageId().toHex() +
                                    ", which entered at the edge and has no source endpoint");
  }
  return invocation_.facts_.inputSource;
}

capnp::MessageBuilder& Context::addOutput(std::uint64_t messageType, std::string_view destination,
                                          TimePoint deliverAt) {
  auto& outputs = invocation_.outputs_;
  outputs.push_back({messageType, std::string(destination), deliverAt,
                     std::make_unique<capnp::MallocMessageBuilder>(kBuilderFirstSegmentWords)});
  return *outputs.back().message;
}

}  // namespace idem
