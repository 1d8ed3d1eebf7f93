// Edge messages: canonical envelopes built outside handlers.
#include "idem/edge.h"

#include "idem/envelope.capnp.h"

namespace idem {

Bytes edgeEnvelope(const EdgeAddress& address, std::uint64_t messageType,
                   kj::ArrayPtr<const capnp::word> payload) {
  capnp::MallocMessageBuilder message(kBuilderFirstSegmentWords);
  auto envelope = message.initRoot<wire::Envelope>();
  envelope.setId(kj::arrayPtr(address.id.bytes.data(), MessageId::kSize));
  envelope.setMessageType(messageType);
  envelope.setDestination(
      capnp::Text::Reader(address.destination.data(), address.destination.size()));
  envelope.setRecordedAt(
      std::chrono::duration_cast<std::chrono::nanoseconds>(address.recordedAt.time_since_epoch())
          .count());
  if (!address.entityKey.empty()) {  // absent rather than empty: earlier envelopes keep their bytes
    envelope.setEntityKey(capnp::Text::Reader(address.entityKey.data(), address.entityKey.size()));
  }
  if (!address.replyTo.empty()) {  // absent rather than empty, as entityKey
    envelope.setSource(capnp::Text::Reader(address.replyTo.data(), address.replyTo.size()));
  }
  envelope.setPayload(payload.asBytes());
  Words canonical = canonicalOf(envelope.asReader());
  auto bytes = asBytes(canonical);
  return Bytes(bytes.begin(), bytes.end());
}

Outbound edgeOutbound(const EdgeAddress& address, std::uint64_t messageType, Bytes envelope) {
  Outbound out;
  out.id = address.id;
  out.messageType = messageType;
  out.destination = std::string(address.destination);
  out.envelope = std::move(envelope);
  return out;
}

}  // namespace idem
