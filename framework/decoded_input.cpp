// DecodedInput: validation of a delivery before it reaches a handler.
#include "framework/decoded_input.h"

#include <kj/exception.h>

#include <cstdio>

#include "idem/error.h"

namespace idem::detail {

std::string messageTypeName(std::uint64_t messageType) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(messageType));
  return text;
}

namespace {
std::optional<MessageId> idFrom(capnp::Data::Reader data) {
  return MessageId::fromBytes({data.begin(), data.size()});
}

// Reads every pointer field of the envelope once. isCanonical() knows no schema, so a field of
// the wrong pointer kind or a Text without its NUL passes it and throws kj::Exception only when
// read, which the pipeline and handler runs do later (found by fuzz/fuzz_envelope).
// Returns the position of the first header without a name, if any: a nameless header means
// nothing, and a list of them costs no bytes (a struct without fields is zero words), so that
// 17 words could carry thousands of them for every later reader to walk (found by
// fuzz/fuzz_envelope).
std::optional<std::size_t> readEveryField(wire::Envelope::Reader envelope) {
  (void)envelope.getId();
  (void)envelope.getDestination();
  (void)envelope.getSource();
  (void)envelope.getEntityKey();
  (void)envelope.getCausationId();
  (void)envelope.getCorrelationId();
  std::optional<std::size_t> nameless;
  std::size_t position = 0;
  for (auto header : envelope.getHeaders()) {
    if (header.getName().size() == 0 && !nameless) nameless = position;
    (void)header.getValue();
    ++position;
  }
  (void)envelope.getPayload();
  return nameless;
}
}  // namespace

DecodedInput::DecodedInput(const Bytes& envelopeBytes, const Handlers& handlers,
                           std::size_t maxMessageBytes) {
  if (envelopeBytes.size() > maxMessageBytes) {
    fail(ErrorKind::kPermanent, "oversized message: " + std::to_string(envelopeBytes.size()) +
                                    " bytes, the limit is " + std::to_string(maxMessageBytes));
  }
  envelope_.emplace(std::span<const std::byte>(envelopeBytes), "envelope");
  auto envelope = envelope_->root<wire::Envelope>();
  std::optional<std::size_t> nameless;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&] { nameless = readEveryField(envelope); })) {
    fail(ErrorKind::kPermanent,
         std::string("envelope is malformed: ") + exception->getDescription().cStr());
  }
  if (nameless) {
    fail(ErrorKind::kPermanent, "envelope header " + std::to_string(*nameless) + " has no name");
  }
  auto id = idFrom(envelope.getId());
  if (!id || id->isZero()) fail(ErrorKind::kPermanent, "envelope id is not 16 non-zero bytes");
  id_ = *id;
  if (envelope.hasCorrelationId()) {
    auto correlation = idFrom(envelope.getCorrelationId());
    if (!correlation) fail(ErrorKind::kPermanent, "envelope correlation id is not 16 bytes");
    correlationId_ = *correlation;
  }
  handler_ = handlers.findByMessageType(envelope.getMessageType());
  if (handler_ == nullptr) {
    fail(ErrorKind::kPermanent, "unknown message type " +
                                    messageTypeName(envelope.getMessageType()) + ": endpoint " +
                                    handlers.endpointName() + " has no handler for it");
  }
  auto payload = envelope.getPayload();
  reads_.emplace(envelope_->words());
  const std::string typeName = handler_->messageSchema.getShortDisplayName().cStr();
  payload_.emplace(std::span<const std::byte>(reinterpret_cast<const std::byte*>(payload.begin()),
                                              payload.size()),
                   ("payload of " + typeName).c_str());
  KJ_IF_MAYBE (exception,
               kj::runCatchingExceptions([&] { entityKey_ = handler_->keyOf(this->payload()); })) {
    fail(ErrorKind::kPermanent,
         "cannot read the entity key of " + typeName + ": " + exception->getDescription().cStr());
  }
}

}  // namespace idem::detail
