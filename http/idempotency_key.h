// The Idempotency-Key header (IETF httpapi draft) and the message id a request gets from it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "idem/message_id.h"

namespace idem::http {

inline constexpr std::size_t kMaxIdempotencyKeyBytes = 255;

// The key in an Idempotency-Key header value: an RFC 8941 sf-string ("...", with the escapes
// backslash-quote and backslash-backslash, printable ASCII) or, leniently, a bare token of visible
// ASCII without quotes. Surrounding spaces are ignored. nullopt when the value is neither, empty,
// or longer than kMaxIdempotencyKeyBytes once unescaped.
std::optional<std::string> parseIdempotencyKey(std::string_view headerValue);

// The id of the edge message a POST /v1/{endpoint}/{messageType} with key `key` sends:
// MessageId::forEdge("idem.http.v1 /v1/" + endpoint + "/" + messageType, key), so the same key
// on two routes gives two ids (docs/http.md, "Ids"). Message type names are Cap'n Proto
// identifiers (no '/'), so the route text names one (endpoint, type) pair.
MessageId requestId(std::string_view endpoint, std::string_view messageType, std::string_view key);

}  // namespace idem::http
