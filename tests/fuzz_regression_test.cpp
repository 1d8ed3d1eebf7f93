// Inputs the fuzz targets of fuzz/ found (docs/fuzzing.md), each kept as a regression test.
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <string_view>

#include "framework/decoded_input.h"
#include "idem/canonical.h"
#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "tests/test_endpoints.h"
#include "tests/test_messages.capnp.h"
#include "tools/json_messages.h"

namespace idem {
namespace {

ErrorKind kindOfFailure(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no idem::Error thrown");
  return ErrorKind::kBug;
}

// One word: a list pointer (tag 01) with offset 0 and no elements, which Cap'n Proto's
// isCanonical() accepts as a root (fuzz/corpus/fuzz_canonical/crash-list-root).
alignas(8) constexpr std::array<std::uint8_t, 8> kListRoot{1, 0, 0, 0, 0, 0, 0, 0};
// One zero word: a null root pointer.
alignas(8) constexpr std::array<std::uint8_t, 8> kNullRoot{};

std::span<const std::byte> bytesOf(const std::array<std::uint8_t, 8>& a) {
  return {reinterpret_cast<const std::byte*>(a.data()), a.size()};
}

TEST_CASE("A canonical reader rejects a message whose root is a list, not a struct",
          "[canonical][fuzz][regression]") {
  CHECK(kindOfFailure([] { CanonicalReader r(bytesOf(kListRoot), "payload"); }) ==
        ErrorKind::kPermanent);
}

TEST_CASE("A canonical reader rejects a message whose root is null",
          "[canonical][fuzz][regression]") {
  CHECK(kindOfFailure([] { CanonicalReader r(bytesOf(kNullRoot), "payload"); }) ==
        ErrorKind::kPermanent);
}

// An envelope (13 words) whose payload is an empty Data list pointing 0x4000 words past the end:
// Cap'n Proto's isCanonical() accepts it, canonicalize() writes another offset
// (fuzz/corpus/fuzz_canonical/crash-empty-list-offset, without its first, alignment byte).
alignas(8) constexpr std::array<std::uint8_t, 104> kEmptyListOffset{
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00, 0x5a, 0x1c, 0xe0, 0xbb, 0xc2, 0x96, 0x05,
    0x93, 0x1d, 0x00, 0x00, 0x00, 0x82, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x42, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
    0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1a, 0x00,
    0xb6, 0xb6, 0xb6, 0xb6, 0x00, 0x00, 0x63, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

TEST_CASE("A canonical reader rejects an empty list whose offset is not the canonical one",
          "[canonical][fuzz][regression]") {
  const std::span<const std::byte> bytes(
      reinterpret_cast<const std::byte*>(kEmptyListOffset.data()), kEmptyListOffset.size());
  CHECK(kindOfFailure([&] { CanonicalReader r(bytes, "envelope"); }) == ErrorKind::kPermanent);
}

TEST_CASE("An envelope whose root is a list is a permanent error, not a kj::Exception",
          "[pipeline][fuzz][regression]") {
  const Handlers handlers = test::counterHandlers("counter");
  const auto span = bytesOf(kListRoot);
  const Bytes envelope(span.begin(), span.end());
  CHECK(kindOfFailure([&] { detail::DecodedInput input(envelope, handlers, 1 << 20); }) ==
        ErrorKind::kPermanent);
}

TEST_CASE("An envelope whose text field has no NUL terminator is a permanent error",
          "[pipeline][fuzz][regression]") {
  const Handlers handlers = test::counterHandlers("counter");
  Bytes envelope =
      edgeMessage<test::Increment>({MessageId::forEdge("fuzz", "1"), "counter", {}, {}},
                                   [](test::Increment::Builder m) { m.setCounterId("c1"); });
  // Overwrite the NUL after the destination "counter": still canonical, no longer valid Text
  // (fuzz/corpus/fuzz_envelope/crash-text-without-nul).
  const std::string_view text(reinterpret_cast<const char*>(envelope.data()), envelope.size());
  const std::size_t at = text.find(std::string_view("counter\0", 8));
  REQUIRE(at != std::string_view::npos);
  envelope[at + 7] = std::byte{'\\'};
  CHECK_NOTHROW(CanonicalReader(envelope, "envelope"));
  CHECK(kindOfFailure([&] { detail::DecodedInput input(envelope, handlers, 1 << 20); }) ==
        ErrorKind::kPermanent);
}

// The envelope of `original` with `count` headers, named `name` unless it is empty (then the
// headers have no field at all: zero words each), in canonical form.
Bytes withHeaders(const Bytes& original, std::size_t count, const std::string& name) {
  CanonicalReader reader(original, "envelope");
  capnp::MallocMessageBuilder builder;
  builder.setRoot(reader.root<wire::Envelope>());
  auto headers = builder.getRoot<wire::Envelope>().initHeaders(static_cast<unsigned>(count));
  if (!name.empty()) {
    for (auto header : headers) header.setName(name);
  }
  const Words words = canonicalOf(builder.getRoot<wire::Envelope>().asReader());
  const auto bytes = asBytes(words.asPtr());
  return Bytes(bytes.begin(), bytes.end());
}

TEST_CASE("An envelope carrying headers without a name is a permanent error naming the header",
          "[pipeline][fuzz][regression]") {
  // 72 such headers in 17 words spent the whole traversal budget of the envelope's reader, so
  // that the pipeline's next read threw kj::Exception (fuzz/corpus/fuzz_envelope/
  // crash-nameless-headers).
  const Handlers handlers = test::counterHandlers("counter");
  const Bytes plain =
      edgeMessage<test::Increment>({MessageId::forEdge("fuzz", "2"), "counter", {}, {}},
                                   [](test::Increment::Builder m) { m.setCounterId("c1"); });
  const Bytes nameless = withHeaders(plain, 72, "");
  CHECK_NOTHROW(CanonicalReader(nameless, "envelope"));
  try {
    detail::DecodedInput input(nameless, handlers, 1 << 20);
    FAIL("accepted an envelope with nameless headers");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kPermanent);
    CHECK(std::string(e.what()).find("envelope header 0 has no name") != std::string::npos);
  }
}

TEST_CASE("A decoded envelope can be read again and again after its checks",
          "[pipeline][fuzz][regression]") {
  // Validation spends the checking reader's budget; the pipeline's and every handler run's
  // reads (retries, the determinism check) go through a reader of their own.
  const Handlers handlers = test::counterHandlers("counter");
  const Bytes plain =
      edgeMessage<test::Increment>({MessageId::forEdge("fuzz", "3"), "counter", {}, {}},
                                   [](test::Increment::Builder m) { m.setCounterId("c1"); });
  const Bytes named = withHeaders(plain, 40, "h");
  detail::DecodedInput input(named, handlers, 1 << 20);
  for (int read = 0; read < 100; ++read) {
    REQUIRE(input.envelope().getHeaders().size() == 40);
    REQUIRE(std::string_view(input.envelope().getDestination().cStr()) == "counter");
  }
}

TEST_CASE("JSON with a number no type can hold is a permanent error naming it",
          "[tools][fuzz][regression]") {
  // nlohmann::json throws out_of_range (406), not parse_error, for a number that overflows a
  // double: it escaped canonicalFromJson (fuzz/corpus/fuzz_json/crash-number-overflow).
  const capnp::StructSchema schema = capnp::Schema::from<test::Counted>();
  for (const char* json :
       {R"({"counterId":1e999})",
        R"({"counterId":900000000000000000000E0000000000018446744073709551611})"}) {
    INFO(json);
    try {
      (void)tools::canonicalFromJson(schema, json);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::kPermanent);
      CHECK_THAT(e.what(), Catch::Contains("is not valid JSON: number overflow parsing"));
    }
  }
}

}  // namespace
}  // namespace idem
