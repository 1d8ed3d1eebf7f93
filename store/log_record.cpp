// LogRecord encoding, shared by VersionStore and fuzz/fuzz_history.cpp.
#include "store/log_record.h"

#include <cstring>
#include <limits>

#include "idem/error.h"
#include "store/little_endian.h"

namespace idem::store {

namespace {

constexpr std::uint8_t kStateChanged = 1;
constexpr std::uint8_t kHasState = 2;

constexpr std::size_t pad8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

}  // namespace

std::size_t logRecordBytes(const HistoryEntry& entry,
                           const std::optional<std::span<const std::byte>>& state) {
  return kLogHeaderBytes + pad8(entry.handlerId.size()) + entry.input.size() +
         (state ? state->size() : 0);
}

void encodeLogRecord(std::span<std::byte> out, const LogRecordPlace& place,
                     const HistoryEntry& entry,
                     const std::optional<std::span<const std::byte>>& state) {
  constexpr auto kU32 = std::numeric_limits<std::uint32_t>::max();
  if (entry.input.size() % 8 != 0 || (state && state->size() % 8 != 0)) {
    fail(ErrorKind::kBug, "log record: input and state must be whole words");
  }
  if (entry.input.size() > kU32 || (state && state->size() > kU32) ||
      entry.handlerId.size() > std::numeric_limits<std::uint16_t>::max()) {
    fail(ErrorKind::kBug, "log record: a length does not fit its field");
  }
  if (out.size() != logRecordBytes(entry, state)) {
    fail(ErrorKind::kBug, "log record: output buffer of the wrong size");
  }
  std::byte* p = out.data();
  std::memset(p, 0, kLogHeaderBytes + pad8(entry.handlerId.size()));
  putLe(p, place.entity);
  putLe(p + 8, place.version);
  putLe(p + 16, place.prevSeq);
  putLe(p + 24, entry.recordedAtNs);
  putLe(p + 32, entry.handlerVersion);
  putLe(p + 36, entry.outputCount);
  putLe(p + 40, static_cast<std::uint32_t>(entry.input.size()));
  putLe(p + 44, static_cast<std::uint32_t>(state ? state->size() : 0));
  putLe(p + 48, static_cast<std::uint16_t>(entry.handlerId.size()));
  p[50] =
      static_cast<std::byte>((entry.stateChanged ? kStateChanged : 0) | (state ? kHasState : 0));
  std::memcpy(p + 56, entry.outputDigest.data(), entry.outputDigest.size());
  p += kLogHeaderBytes;
  std::memcpy(p, entry.handlerId.data(), entry.handlerId.size());
  p += pad8(entry.handlerId.size());
  if (!entry.input.empty()) std::memcpy(p, entry.input.data(), entry.input.size());
  p += entry.input.size();
  if (state && !state->empty()) std::memcpy(p, state->data(), state->size());
}

LogRecord decodeLogRecord(std::span<const std::byte> bytes, std::uint64_t seq,
                          const std::string& what) {
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 != 0) {
    fail(ErrorKind::kBug, what + ": log record bytes are not word-aligned");
  }
  const auto damaged = [&](const std::string& why) -> LogRecord {
    fail(ErrorKind::kPermanent, what + " is malformed: " + why);
  };
  if (bytes.size() < kLogHeaderBytes) return damaged("shorter than its 88-byte header");
  const std::byte* p = bytes.data();
  LogRecord record;
  record.seq = seq;
  record.entity = getLe<std::uint64_t>(p);
  record.version = getLe<std::uint64_t>(p + 8);
  record.prevSeq = getLe<std::uint64_t>(p + 16);
  HistoryEntry& entry = record.entry;
  entry.recordedAtNs = getLe<std::int64_t>(p + 24);
  entry.handlerVersion = getLe<std::uint32_t>(p + 32);
  entry.outputCount = getLe<std::uint32_t>(p + 36);
  const std::size_t inputBytes = getLe<std::uint32_t>(p + 40);
  const std::size_t stateBytes = getLe<std::uint32_t>(p + 44);
  const std::size_t idBytes = getLe<std::uint16_t>(p + 48);
  const auto flags = std::to_integer<std::uint8_t>(p[50]);
  for (int i = 51; i < 56; ++i) {
    if (p[i] != std::byte{0}) return damaged("a reserved header byte is set");
  }
  if ((flags & ~(kStateChanged | kHasState)) != 0) return damaged("an unknown flag is set");
  const bool hasState = (flags & kHasState) != 0;
  if (inputBytes % 8 != 0 || stateBytes % 8 != 0) return damaged("a length is not whole words");
  if (!hasState && stateBytes != 0) return damaged("a state length without a state");
  if (record.entity == 0 || record.version == 0) return damaged("entity or version 0");
  if ((record.version == 1) != (record.prevSeq == 0) || record.prevSeq >= seq) {
    return damaged("its previous record (" + std::to_string(record.prevSeq) +
                   ") does not fit version " + std::to_string(record.version));
  }
  // Sizes are at most 2^32 each: no overflow in 64 bits.
  if (bytes.size() != kLogHeaderBytes + pad8(idBytes) + inputBytes + stateBytes) {
    return damaged("its lengths add up to another size than its " + std::to_string(bytes.size()) +
                   " bytes");
  }
  entry.stateChanged = (flags & kStateChanged) != 0;
  std::memcpy(entry.outputDigest.data(), p + 56, entry.outputDigest.size());
  const std::byte* at = p + kLogHeaderBytes;
  entry.handlerId = {reinterpret_cast<const char*>(at), idBytes};
  for (std::size_t i = idBytes; i < pad8(idBytes); ++i) {
    if (at[i] != std::byte{0}) return damaged("handler id padding is not zero");
  }
  at += pad8(idBytes);
  entry.input = {at, inputBytes};
  at += inputBytes;
  if (hasState) record.state = std::span<const std::byte>(at, stateBytes);
  return record;
}

}  // namespace idem::store
