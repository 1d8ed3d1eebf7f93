// MessageId: hex form and the edge derivation (docs/message-ids.md).
#include "idem/message_id.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "handlers/id_hash.h"

namespace idem {

std::string MessageId::toHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kSize * 2, '0');
  for (std::size_t i = 0; i < kSize; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

std::optional<MessageId> MessageId::fromHex(std::string_view hex) {
  if (hex.size() != kSize * 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  MessageId id;
  for (std::size_t i = 0; i < kSize; ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return id;
}

std::optional<MessageId> MessageId::fromBytes(std::span<const std::uint8_t> raw) {
  if (raw.size() != kSize) return std::nullopt;
  MessageId id;
  std::copy(raw.begin(), raw.end(), id.bytes.begin());
  return id;
}

MessageId MessageId::forEdge(std::string_view source, std::string_view stableKey) {
  detail::IdHash hash("idem.edge.v1");
  hash.addText(source);
  hash.addText(stableKey);
  return hash.finishFull();
}

MessageId MessageId::forEdge(std::string_view source, std::string_view stableKey,
                             std::chrono::system_clock::time_point createdAt) {
  detail::IdHash hash("idem.edge.v1");
  hash.addText(source);
  hash.addText(stableKey);
  return hash.finishOrdered(
      std::chrono::duration_cast<std::chrono::nanoseconds>(createdAt.time_since_epoch()).count());
}

std::chrono::system_clock::time_point MessageId::createdAt() const noexcept {
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 6; ++i) ms = (ms << 8) | bytes[i];
  // 48 bits of milliseconds reach beyond what the clock's nanoseconds hold (the year 2262): an
  // id that is not time-ordered, or a stranger's, is clamped there instead of overflowing.
  using std::chrono::milliseconds;
  constexpr std::int64_t kLatest =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::duration::max()).count();
  return std::chrono::system_clock::time_point(milliseconds(std::min(ms, kLatest)));
}

bool MessageId::isZero() const noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace idem
