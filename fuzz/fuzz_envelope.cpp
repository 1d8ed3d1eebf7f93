// Fuzz target: DecodedInput, the pipeline's edge, with the tests' counter handlers. Any bytes must
// decode or throw idem::Error kPermanent.
#include "framework/decoded_input.h"
#include "fuzz/fuzz_support.h"
#include "tests/test_endpoints.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const idem::Handlers handlers = idem::test::counterHandlers("counter");
  // The limit the endpoints use by default, so that large inputs exercise the size check too.
  constexpr std::size_t kMaxMessageBytes = std::size_t{1} << 20;
  const idem::Bytes envelope(reinterpret_cast<const std::byte*>(data),
                             reinterpret_cast<const std::byte*>(data) + size);
  idem::fuzz::expectOnly(idem::ErrorKind::kPermanent, [&] {
    idem::detail::DecodedInput input(envelope, handlers, kMaxMessageBytes);
    // What the pipeline reads next: the payload's words and the envelope's fields.
    (void)input.payloadWords().size();
    (void)input.envelope().getDestination();
    (void)input.envelope().getSource();
  });
  return 0;
}
