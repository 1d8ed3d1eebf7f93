// JSON <-> canonical Cap'n Proto bytes through a message's schema (Cap'n Proto's JsonCodec), for
// the shell: `idem send` reads JSON, `idem errors show` prints payloads as JSON.
#pragma once

#include <capnp/schema.h>

#include <span>
#include <string>
#include <string_view>

#include "idem/canonical.h"

namespace idem::tools {

// Throws idem::Error (permanent) naming the type when `json` does not fit the schema.
Words canonicalFromJson(capnp::StructSchema schema, std::string_view json);
// Throws idem::Error (permanent) when `bytes` are not a canonical message.
std::string jsonFromCanonical(capnp::StructSchema schema, std::span<const std::byte> bytes);

}  // namespace idem::tools
