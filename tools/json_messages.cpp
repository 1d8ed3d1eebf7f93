// JSON conversion with capnp::JsonCodec.
#include "tools/json_messages.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <kj/exception.h>

#include "idem/error.h"

namespace idem::tools {

Words canonicalFromJson(capnp::StructSchema schema, std::string_view json) {
  capnp::JsonCodec codec;
  codec.setRejectUnknownFields(true);  // a typo must not become a message with default fields
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<capnp::DynamicStruct>(schema);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), root);
               })) {
    fail(ErrorKind::kPermanent, std::string("JSON does not fit ") +
                                    schema.getShortDisplayName().cStr() + ": " +
                                    e->getDescription().cStr());
  }
  return message.getRoot<capnp::AnyStruct>().asReader().canonicalize();
}

std::string jsonFromCanonical(capnp::StructSchema schema, std::span<const std::byte> bytes) {
  CanonicalReader reader(bytes, "payload");
  capnp::JsonCodec codec;
  return codec.encode(reader.message().getRoot<capnp::DynamicStruct>(schema)).cStr();
}

}  // namespace idem::tools
