// Idempotency-Key parsing and the route-scoped request id.
#include "http/idempotency_key.h"

namespace idem::http {

std::optional<std::string> parseIdempotencyKey(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::string key;
  if (value.front() == '"') {  // sf-string
    if (value.size() < 2 || value.back() != '"') return std::nullopt;
    const std::string_view inner = value.substr(1, value.size() - 2);
    for (std::size_t i = 0; i < inner.size(); ++i) {
      char c = inner[i];
      if (c == '\\') {
        if (++i == inner.size()) return std::nullopt;
        c = inner[i];
        if (c != '"' && c != '\\') return std::nullopt;
      } else if (c == '"' || c < 0x20 || c > 0x7e) {
        return std::nullopt;
      }
      key.push_back(c);
    }
  } else {  // a bare token
    for (const char c : value) {
      if (c <= 0x20 || c > 0x7e || c == '"' || c == '\\' || c == ',') return std::nullopt;
    }
    key = value;
  }
  if (key.empty() || key.size() > kMaxIdempotencyKeyBytes) return std::nullopt;
  return key;
}

MessageId requestId(std::string_view endpoint, std::string_view messageType, std::string_view key) {
  std::string source = "idem.http.v1 /v1/";
  source.append(endpoint).append("/").append(messageType);
  return MessageId::forEdge(source, key);
}

}  // namespace idem::http
