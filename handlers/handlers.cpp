// Handlers: the registry of one endpoint's handlers.
#include "idem/handlers.h"

#include <algorithm>
#include <string>

#include "idem/error.h"

namespace idem {

Handlers::Handlers(std::string endpointName) : endpointName_(std::move(endpointName)) {
  if (endpointName_.empty()) fail(ErrorKind::kBug, "an endpoint needs a name");
}

const detail::RegisteredHandler* Handlers::findByMessageType(std::uint64_t messageType) const {
  auto it = byMessageType_.find(messageType);
  return it == byMessageType_.end() ? nullptr : it->second;
}

const detail::RegisteredHandler* Handlers::findBySpec(std::string_view id,
                                                      std::uint32_t version) const {
  for (const auto& h : handlers_) {
    if (h->spec.id == id && h->spec.version == version) return h.get();
  }
  return nullptr;
}

Handlers& Handlers::declareEmitted(capnp::StructSchema schema) {
  const bool known = std::any_of(emitted_.begin(), emitted_.end(), [&](capnp::StructSchema s) {
    return s.getProto().getId() == schema.getProto().getId();
  });
  if (!known) emitted_.push_back(schema);
  return *this;
}

void Handlers::add(detail::RegisteredHandler handler) {
  if (!handler.replayOnly && byMessageType_.count(handler.messageType) != 0) {
    fail(ErrorKind::kBug, "endpoint " + endpointName_ + " registers two handlers for message " +
                              std::string(handler.messageSchema.getShortDisplayName().cStr()));
  }
  if (findBySpec(handler.spec.id, handler.spec.version) != nullptr) {
    fail(ErrorKind::kBug, "endpoint " + endpointName_ + " registers handler " + handler.spec.id +
                              " v" + std::to_string(handler.spec.version) + " twice");
  }
  handlers_.push_back(std::make_unique<detail::RegisteredHandler>(std::move(handler)));
  if (!handlers_.back()->replayOnly) {
    byMessageType_[handlers_.back()->messageType] = handlers_.back().get();
  }
}

}  // namespace idem
