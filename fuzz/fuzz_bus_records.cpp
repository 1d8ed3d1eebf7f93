// Fuzz target: the bus's record decoders (store/bus_layout.h). They return nullopt for a value of
// the wrong shape and never throw; what they accept must encode back to the same bytes.
#include <cstring>

#include "fuzz/fuzz_support.h"
#include "store/bus_layout.h"

namespace bus = idem::store::bus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the decoder; for errors, the next 8 bytes are the key's seq.
  const bus::Span value = idem::fuzz::bytesOf(data + 1, size - 1);
  idem::fuzz::expectNoThrow([&] {
    switch (data[0] % 4) {
      case 0:
        if (auto counts = bus::decodeCounts(value)) {
          if (bus::encodeCounts(*counts) != bus::chars(value)) {
            idem::fuzz::finding("counts do not encode back to their bytes", "");
          }
        }
        break;
      case 1:
        if (auto m = bus::decodeMessage(value)) {
          if (bus::encodeMessage(m->attempt, m->endpoint, m->envelope) != bus::chars(value)) {
            idem::fuzz::finding("a message does not encode back to its bytes", "");
          }
        }
        break;
      case 2:
        if (auto expiry = bus::leaseExpiry(value)) {
          if (bus::encodeLease(*expiry, bus::readBe(value.data() + 8, 8)) != bus::chars(value)) {
            idem::fuzz::finding("a lease does not encode back to its bytes", "");
          }
        }
        break;
      default: {
        const bus::Span key = value.first(std::min<std::size_t>(value.size(), 8));
        if (auto e = bus::decodeError(key, value.subspan(key.size()))) {
          if (e->id != bus::seqOf(key)) idem::fuzz::finding("an error entry lost its seq", "");
          (void)bus::encodeError(e->report, e->envelope);
        }
        break;
      }
    }
  });
  return 0;
}
