// MessageId: the 128-bit identity of a logical message. Copies of a message share it.
// Derivation of ids (outputs, newId, the edge) is specified in docs/message-ids.md.
#pragma once

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace idem {

struct MessageId {
  static constexpr std::size_t kSize = 16;
  std::array<std::uint8_t, kSize> bytes{};

  // Lower-case hex, 32 characters.
  std::string toHex() const;
  // Parses 32 hex digits; nullopt when `hex` is anything else.
  static std::optional<MessageId> fromHex(std::string_view hex);
  // Copies 16 bytes; nullopt when `raw` has another length.
  static std::optional<MessageId> fromBytes(std::span<const std::uint8_t> raw);

  // An id for a message entering at the edge, derived from a caller-supplied stable key (for
  // instance the submitted form's id), so that retried submissions collide and are deduplicated.
  // `source` names the submitting system; the same key from two sources gives two ids.
  static MessageId forEdge(std::string_view source, std::string_view stableKey);
  // The same, time-ordered: the id starts with `createdAt` in milliseconds, so the receiver's
  // applied index grows at its end (LMDB appends instead of inserting at random: several times
  // fewer pages written per message). `createdAt` must be as stable as the key — a time stored
  // with the submission (the form's creation time), never the clock at each retry — or retried
  // submissions get different ids and are processed twice.
  static MessageId forEdge(std::string_view source, std::string_view stableKey,
                           std::chrono::system_clock::time_point createdAt);

  // The millisecond a time-ordered id starts with (its first 6 bytes, big-endian; see forEdge
  // above and docs/message-ids.md, "Ordered ids"). Meaningless for an id that is not ordered;
  // never later than the clock can represent (ids from strangers are clamped, not overflowed).
  std::chrono::system_clock::time_point createdAt() const noexcept;

  bool isZero() const noexcept;
  auto operator<=>(const MessageId&) const = default;
};

}  // namespace idem
