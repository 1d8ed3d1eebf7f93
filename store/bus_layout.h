// BusLayout: the keys and records of the bus environment (store/bus_store.cpp keeps the queues in
// them). Pure byte encoding, no LMDB. The format (also in docs/storage-format.md, "Bus"):
//
//   directory  := data.mdb lock.mdb doorbell      (doorbell: see framework/bus_doorbell.h)
//   u32, u64   := big-endian, so that keys sort numerically
//   nsTime     := u64, nanoseconds since the Unix epoch (system clock)
//   endpoint   := 1..255 bytes, no 0x00
//   seq        := u64 from meta "next-seq": 1, 2, ... never reused. A message is stored under a
//                 new seq each time it is handed out anew (lease expired, retryLater, error
//                 retry), so a seq names one delivery: it is the Delivery tag. A settle call with
//                 an old tag finds nothing and changes nothing.
//
//   db "meta"      "format"          -> "idem.bus/1"
//                  "next-seq"        -> u64
//                  "lease-floor" 0x00 endpoint -> nsTime   no lease of endpoint expires before it
//   db "messages"  seq               -> attempt:u32 endpointLength:u32 endpoint envelope
//   db "ready"     endpoint 0x00 seq -> (empty)
//   db "leased"    endpoint 0x00 seq -> expiry:nsTime owner:u64
//   db "delayed"   due:nsTime seq    -> (empty)                         (every endpoint's)
//   db "errors"    endpoint 0x00 seq -> attempts:u32 reasonLength:u32 detailLength:u32 0:u32
//                                       failedAt:nsTime reason detail envelope
//   db "subs"      messageType:u64 endpoint -> (empty)
//   db "counts"    endpoint          -> ready:u64 leased:u64 delayed:u64 errors:u64
//
// Every stored message is in exactly one of ready, leased and delayed; a dead-lettered one leaves
// "messages" and lives on in "errors" with its bytes. "counts" mirrors those four indexes per
// endpoint (updated in the same transaction), is the registry of known endpoints, and makes the
// back-pressure check and the statistics O(1). Keys of "messages" are appended (MDB_APPEND).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "idem/embedded_transport.h"
#include "idem/transport.h"

namespace idem::store::bus {

using Span = std::span<const std::byte>;

constexpr std::string_view kFormat = "idem.bus/1";
constexpr std::size_t kMaxEndpointBytes = 255;

void appendBe(std::string& out, std::uint64_t value, std::size_t bytes);
// Reads `bytes` big-endian bytes at `at`; the caller has checked the length.
std::uint64_t readBe(const std::byte* at, std::size_t bytes);
std::string be64(std::uint64_t value);
inline std::string_view chars(Span s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}
inline bool startsWith(Span key, std::string_view prefix) {
  return chars(key).substr(0, prefix.size()) == prefix;
}

// Throws Error kPermanent unless `endpoint` is 1..255 bytes without NUL.
void checkEndpoint(std::string_view endpoint);

std::string prefixOf(std::string_view endpoint);                        // endpoint 0x00
std::string endpointKey(std::string_view endpoint, std::uint64_t seq);  // endpoint 0x00 seq
std::uint64_t seqOf(Span endpointOrTimeKey);                            // its last 8 bytes
std::string timeKey(std::int64_t ns, std::uint64_t seq);                // nsTime seq (ns < 0: 0)
std::int64_t toNs(TimePoint t);

enum Column : std::size_t { kReady, kLeased, kDelayed, kErrors, kColumns };
using Counts = std::array<std::int64_t, kColumns>;
std::string encodeCounts(const Counts& counts);
std::optional<Counts> decodeCounts(Span value);

// A message copied out of the map (map pointers die at the next write in the transaction).
struct StoredMessage {
  std::uint32_t attempt = 0;
  std::string endpoint;
  Bytes envelope;
};
std::string encodeMessage(std::uint32_t attempt, std::string_view endpoint, Span envelope);
std::optional<StoredMessage> decodeMessage(Span value);

std::string encodeLease(std::int64_t expiryNs, std::uint64_t owner);
std::optional<std::int64_t> leaseExpiry(Span value);

std::string encodeError(const ErrorReport& report, Span envelope);
// `key` is the errors key (its seq becomes the entry's id).
std::optional<ErrorEntry> decodeError(Span key, Span value);

}  // namespace idem::store::bus
