// ServiceTokens: the requests an idem service holds between a caller's PUT and its DELETE (the
// tokens of the four-phase protocol, docs/http.md "Calling an idem endpoint as a service"), and
// the tombstones DELETE leaves, as small files that survive kill -9.
//
// Layout under `directory` (one directory per route, one file per request id):
//
//   <endpoint>/<MessageType>/<id>.request   = state:u8 ‖ payload
//       state   = 1 (put: stored, not yet sent) | 2 (posted: sent to the endpoint)
//       payload = the canonical Cap'n Proto words of a <MessageType> (the PUT body)
//   <endpoint>/<MessageType>/<id>.deleted   = empty: "DELETE was answered for <id>"
//   <endpoint>/<MessageType>/<id>.*.tmp     = a write in progress (removed by prune)
//
// <id> is the request id as 32 lower-case hex digits; its first 6 bytes are its millisecond of
// creation (docs/message-ids.md), which is the age prune() compares, so no file carries a time.
// Every change is written to a temporary file, fsynced, then linked or renamed into place and
// the directory fsynced: a file named <id>.request or <id>.deleted is always whole.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string_view>

#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem::http {

struct ServiceToken {
  enum class State { kAbsent, kPut, kPosted, kDeleted };
  State state = State::kAbsent;
  Bytes payload;  // kPut and kPosted: the canonical payload stored by PUT
};

struct ServiceTokenCounts {
  std::size_t requests = 0;    // <id>.request files
  std::size_t tombstones = 0;  // <id>.deleted files
};

// Not thread-safe: one thread at a time. Two processes may share `directory`: each change is a
// single atomic link, rename or unlink. Every member throws idem::Error (transient) naming the
// file when the file system refuses.
class ServiceTokens {
 public:
  explicit ServiceTokens(std::filesystem::path directory);

  // `route` is "<endpoint>/<MessageType>". A tombstone wins over a request file (a DELETE that
  // was cut short between its two steps is still a DELETE).
  ServiceToken find(std::string_view route, const MessageId& id) const;
  // Stores `payload` in state put unless a request file exists. True when this call created it.
  [[nodiscard]] bool put(std::string_view route, const MessageId& id,
                         std::span<const std::byte> payload);
  // Rewrites the request file in state posted (same payload). Call after the message was
  // published: a crash before it leaves state put, and the next POST publishes the same id again.
  void markPosted(std::string_view route, const MessageId& id, std::span<const std::byte> payload);
  // 1. writes the tombstone, 2. removes the request file.
  void remove(std::string_view route, const MessageId& id);
  // Removes every file (requests, tombstones, temporaries) whose id was created before
  // `now - maxAge`. Returns how many it removed.
  std::size_t prune(std::chrono::system_clock::time_point now, std::chrono::milliseconds maxAge);
  ServiceTokenCounts count() const;

 private:
  std::filesystem::path file(std::string_view route, const MessageId& id,
                             std::string_view suffix) const;

  std::filesystem::path directory_;
};

}  // namespace idem::http
