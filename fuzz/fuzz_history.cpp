// Fuzz target: the version store's log record decoding (store/log_record.h), on word-aligned
// bytes as LMDB hands them over. Must decode or throw idem::Error kPermanent; whatever decodes
// must encode back to the same bytes.
#include <cstring>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "store/log_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The store rejects a value that is not whole words before decoding; do the same. The seq is
  // taken from the first 8 bytes so that the previous-record check sees varied values.
  if (size % 8 != 0 || size < 8) return 0;
  std::uint64_t seq = 0;
  std::memcpy(&seq, data, 8);
  std::vector<std::uint64_t> storage((size - 8) / 8);  // 8-byte aligned, as LMDB places it
  if (size > 8) std::memcpy(storage.data(), data + 8, size - 8);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(storage.data()),
                                         size - 8);
  idem::fuzz::expectOnly(idem::ErrorKind::kPermanent, [&] {
    const idem::store::LogRecord record = idem::store::decodeLogRecord(bytes, seq, "fuzz input");
    const auto* first = reinterpret_cast<const char*>(storage.data());
    const auto* last = first + bytes.size();
    const auto inside = [&](const void* p, std::size_t n) {
      const auto* c = static_cast<const char*>(p);
      return n == 0 || (c >= first && c + n <= last);
    };
    if (!inside(record.entry.handlerId.data(), record.entry.handlerId.size()) ||
        !inside(record.entry.input.data(), record.entry.input.size()) ||
        (record.state && !inside(record.state->data(), record.state->size()))) {
      idem::fuzz::finding("a span points outside the record", "");
    }
    std::vector<std::byte> again(idem::store::logRecordBytes(record.entry, record.state));
    idem::store::encodeLogRecord(again, {record.entity, record.version, record.prevSeq},
                                 record.entry, record.state);
    if (again.size() != bytes.size() ||
        std::memcmp(again.data(), bytes.data(), again.size()) != 0) {
      idem::fuzz::finding("a decoded record encodes to other bytes", "");
    }
  });
  return 0;
}
