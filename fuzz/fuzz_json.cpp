// Fuzz target: `idem send`'s JSON -> canonical Cap'n Proto path (tools/json_messages.h), through
// three fixed schemas the first byte picks: a message with lists of structs and texts, one with
// texts, data and 64-bit numbers, and the envelope itself. Must convert or throw idem::Error
// kPermanent; what it converts must print back as JSON.
#include <capnp/schema.h>

#include "fuzz/fuzz_support.h"
#include "idem/envelope.capnp.h"
#include "tests/lists_test.capnp.h"
#include "tests/test_messages.capnp.h"
#include "tools/json_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const capnp::StructSchema kSchemas[] = {
      capnp::Schema::from<idem::test::Lists>(),
      capnp::Schema::from<idem::test::Counted>(),
      capnp::Schema::from<idem::wire::Envelope>(),
  };
  const capnp::StructSchema schema = kSchemas[data[0] % 3];
  const std::string_view json = idem::fuzz::textOf(data + 1, size - 1);
  idem::fuzz::expectOnly(idem::ErrorKind::kPermanent, [&] {
    const idem::Words words = idem::tools::canonicalFromJson(schema, json);
    idem::fuzz::expectNoThrow(
        [&] { (void)idem::tools::jsonFromCanonical(schema, idem::asBytes(words)); });
  });
  return 0;
}
