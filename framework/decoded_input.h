// DecodedInput: a delivery checked at the pipeline's edge: size, canonical envelope, id,
// registered message type, canonical payload and entity key. Malformed input becomes a permanent
// idem::Error here, once, with the reason attached.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "idem/canonical.h"
#include "idem/envelope.capnp.h"
#include "idem/handlers.h"
#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem::detail {

class DecodedInput {
 public:
  // Keeps a pointer to `envelopeBytes`, which must outlive this object and stay unmoved.
  // Throws idem::Error (permanent) naming what is wrong.
  DecodedInput(const Bytes& envelopeBytes, const Handlers& handlers, std::size_t maxMessageBytes);

  const MessageId& id() const { return id_; }
  const MessageId& correlationId() const { return correlationId_; }
  // Reads through a RunReader of its own, so the pipeline's reads do not share the traversal
  // budget that validation spent.
  wire::Envelope::Reader envelope() { return reads_->root<wire::Envelope>(); }
  capnp::AnyStruct::Reader payload() { return payload_->root<capnp::AnyStruct>(); }
  kj::ArrayPtr<const capnp::word> payloadWords() const { return payload_->words(); }
  const RegisteredHandler& handler() const { return *handler_; }
  const std::string& entityKey() const { return entityKey_; }

 private:
  std::optional<CanonicalReader> envelope_;
  std::optional<RunReader> reads_;
  std::optional<CanonicalReader> payload_;
  MessageId id_;
  MessageId correlationId_;
  const RegisteredHandler* handler_ = nullptr;
  std::string entityKey_;
};

// "0x" and 16 hex digits, as message types are named in errors.
std::string messageTypeName(std::uint64_t messageType);

}  // namespace idem::detail
