// IdHash: the BLAKE2b-based derivation behind every idem message id (docs/message-ids.md).
// Fields are fed length-prefixed so that no two field sequences hash the same bytes.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "idem/message_id.h"

namespace idem::detail {

class IdHash {
 public:
  // `domain` separates the uses (output ids, newId, edge ids, random seeds).
  explicit IdHash(std::string_view domain);

  void addText(std::string_view text);  // u32 big-endian length, then the bytes
  void addId(const MessageId& id);      // the 16 bytes
  void addU64(std::uint64_t value);     // 8 bytes big-endian

  // The 16-byte BLAKE2b digest as an id (edge ids: no ordering prefix).
  MessageId finishFull();
  // A time-ordered id: 6 bytes big-endian milliseconds since the epoch of `recordedAtNs`,
  // then the first 10 bytes of the 16-byte digest. Keeps the applied index append-mostly.
  MessageId finishOrdered(std::int64_t recordedAtNs);
  // The first 8 digest bytes, big-endian, as a number (seeds).
  std::uint64_t finishU64();

 private:
  void add(std::span<const std::uint8_t> bytes);
  crypto_generichash_state state_;
};

}  // namespace idem::detail
