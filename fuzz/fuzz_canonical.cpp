// Fuzz target: CanonicalReader. Any bytes, aligned or not, must read or throw idem::Error
// kPermanent; bytes it accepts must canonicalize back to themselves.
#include <kj/exception.h>

#include <cstring>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "idem/canonical.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the alignment, so that both the in-place and the copying path run.
  const bool unaligned = (data[0] & 1) != 0;
  std::vector<capnp::word> storage(size / sizeof(capnp::word) + 2);
  auto* base = reinterpret_cast<std::uint8_t*>(storage.data()) + (unaligned ? 1 : 0);
  std::memcpy(base, data + 1, size - 1);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(base), size - 1);
  idem::fuzz::expectOnly(idem::ErrorKind::kPermanent, [&] {
    idem::CanonicalReader reader(bytes, "fuzz input");
    // Accepted means canonical: reading the root once and canonicalizing it gives the same bytes.
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                   const auto again = reader.root<capnp::AnyStruct>().canonicalize();
                   const auto words = reader.words();
                   if (again.size() != words.size() ||
                       std::memcmp(again.begin(), words.begin(), words.size() * 8) != 0) {
                     idem::fuzz::finding("accepted bytes are not their own canonical form", "");
                   }
                 })) {
      idem::fuzz::finding("reading accepted bytes threw", e->getDescription().cStr());
    }
  });
  return 0;
}
