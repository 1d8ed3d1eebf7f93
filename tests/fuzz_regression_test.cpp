// Inputs the fuzz targets of fuzz/ found (docs/fuzzing.md), each kept as a regression test.
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>

#include "framework/decoded_input.h"
#include "idem/canonical.h"
#include "idem/error.h"
#include "tests/test_endpoints.h"

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

TEST_CASE("An envelope whose root is a list is a permanent error, not a kj::Exception",
          "[pipeline][fuzz][regression]") {
  const Handlers handlers = test::counterHandlers("counter");
  const auto span = bytesOf(kListRoot);
  const Bytes envelope(span.begin(), span.end());
  CHECK(kindOfFailure([&] { detail::DecodedInput input(envelope, handlers, 1 << 20); }) ==
        ErrorKind::kPermanent);
}

}  // namespace
}  // namespace idem
