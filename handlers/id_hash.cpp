// IdHash: BLAKE2b (libsodium crypto_generichash) with 16-byte output over length-prefixed fields.
#include "handlers/id_hash.h"

#include <array>

namespace idem::detail {

namespace {
constexpr std::size_t kDigestBytes = 16;

std::array<std::uint8_t, 8> bigEndian(std::uint64_t value) {
  std::array<std::uint8_t, 8> out{};
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value & 0xFF);
    value >>= 8;
  }
  return out;
}
}  // namespace

IdHash::IdHash(std::string_view domain) {
  crypto_generichash_init(&state_, nullptr, 0, kDigestBytes);
  addText(domain);
}

void IdHash::add(std::span<const std::uint8_t> bytes) {
  crypto_generichash_update(&state_, bytes.data(), bytes.size());
}

void IdHash::addText(std::string_view text) {
  auto length = bigEndian(text.size());
  add(std::span(length).subspan(4));
  add({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

void IdHash::addId(const MessageId& id) { add(id.bytes); }

void IdHash::addU64(std::uint64_t value) { add(bigEndian(value)); }

MessageId IdHash::finishFull() {
  MessageId id;
  crypto_generichash_final(&state_, id.bytes.data(), kDigestBytes);
  return id;
}

MessageId IdHash::finishOrdered(std::int64_t recordedAtNs) {
  std::array<std::uint8_t, kDigestBytes> digest{};
  crypto_generichash_final(&state_, digest.data(), kDigestBytes);
  auto millis =
      bigEndian(static_cast<std::uint64_t>(recordedAtNs < 0 ? 0 : recordedAtNs / 1000000));
  MessageId id;
  for (std::size_t i = 0; i < 6; ++i) id.bytes[i] = millis[i + 2];
  for (std::size_t i = 0; i < 10; ++i) id.bytes[6 + i] = digest[i];
  return id;
}

std::uint64_t IdHash::finishU64() {
  std::array<std::uint8_t, kDigestBytes> digest{};
  crypto_generichash_final(&state_, digest.data(), kDigestBytes);
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = value << 8 | digest[i];
  return value;
}

}  // namespace idem::detail
