// Fuzz target: the version store's history record decoding (store/history_record.h), on
// word-aligned bytes as LMDB hands them over. Must decode or throw idem::Error kPermanent.
#include <cstring>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "store/history_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // findHistory rejects a value that is not whole words before decoding; do the same.
  if (size % 8 != 0) return 0;
  std::vector<std::uint64_t> storage(size / 8);  // 8-byte aligned, as LMDB places it
  if (size > 0) std::memcpy(storage.data(), data, size);
  const std::span<const std::byte> words(reinterpret_cast<const std::byte*>(storage.data()), size);
  idem::fuzz::expectOnly(idem::ErrorKind::kPermanent, [&] {
    const idem::store::HistoryEntry entry = idem::store::decodeHistoryRecord(words, "fuzz input");
    // The spans must lie inside the record.
    const auto* first = reinterpret_cast<const char*>(storage.data());
    const auto* last = first + size;
    if (!entry.handlerId.empty() && (entry.handlerId.data() < first ||
                                     entry.handlerId.data() + entry.handlerId.size() > last)) {
      idem::fuzz::finding("handlerId points outside the record", "");
    }
    const auto* input = reinterpret_cast<const char*>(entry.input.data());
    if (!entry.input.empty() && (input < first || input + entry.input.size() > last)) {
      idem::fuzz::finding("input points outside the record", "");
    }
  });
  return 0;
}
