// NATS layout: names and header encodings (grammar in nats_layout.h).
#include "framework/nats_layout.h"

#include <cstdio>

#include "idem/error.h"

namespace idem::detail::nats {

namespace {
constexpr std::size_t kMaxEndpointName = 64;
}

bool validEndpointName(std::string_view endpoint) noexcept {
  if (endpoint.empty() || endpoint.size() > kMaxEndpointName) return false;
  for (char c : endpoint) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void requireEndpointName(std::string_view endpoint) {
  if (!validEndpointName(endpoint)) {
    fail(ErrorKind::kPermanent, "endpoint name '" + std::string(endpoint) +
                                    "' cannot be used on NATS: use letters, digits, '_' and "
                                    "'-' (at most 64)");
  }
}

std::string inputStream(std::string_view endpoint) { return "IDEM_IN_" + std::string(endpoint); }

std::string inputSubjects(std::string_view endpoint) {
  return "idem.in." + std::string(endpoint) + ".>";
}

std::string inputSubject(std::string_view endpoint, std::uint32_t partition) {
  return "idem.in." + std::string(endpoint) + ".p" + std::to_string(partition);
}

std::string consumerName(std::string_view endpoint, std::uint32_t partition) {
  return "idem_" + std::string(endpoint) + "_p" + std::to_string(partition);
}

std::string errorStream(std::string_view endpoint) { return "IDEM_ERR_" + std::string(endpoint); }

std::string errorSubject(std::string_view endpoint) { return "idem.err." + std::string(endpoint); }

std::string typeHex(std::uint64_t messageType) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(messageType));
  return buf;
}

std::string subscriptionKey(std::uint64_t messageType, std::string_view endpoint) {
  return typeHex(messageType) + "." + std::string(endpoint);
}

bool parseSubscriptionKey(std::string_view key, std::uint64_t& messageType, std::string& endpoint) {
  if (key.size() < 18 || key[16] != '.') return false;
  std::uint64_t type = 0;
  for (char c : key.substr(0, 16)) {
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return false;
    type = type << 4 | static_cast<std::uint64_t>(digit);
  }
  std::string_view name = key.substr(17);
  if (!validEndpointName(name)) return false;
  messageType = type;
  endpoint = name;
  return true;
}

std::size_t inputHeaderBytes(std::int64_t deliverAtNs) {
  constexpr std::size_t kStatusLine = sizeof "NATS/1.0\r\n" - 1;
  constexpr std::size_t kCrlf = 2;
  auto field = [](std::string_view name, std::size_t valueLength) {
    return name.size() + 2 + valueLength + kCrlf;  // "Name: value\r\n"
  };
  std::size_t n = kStatusLine + field(kMsgIdHeader, 32) + field(kTypeHeader, 16);
  if (deliverAtNs > 0) n += field(kDeliverAtHeader, std::to_string(deliverAtNs).size());
  return n + kCrlf;
}

std::string escapeHeader(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '%') {
      out += "%25";
    } else if (c == '\r') {
      out += "%0D";
    } else if (c == '\n') {
      out += "%0A";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescapeHeader(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string_view rest = text.substr(i);
    if (rest.starts_with("%25")) {
      out += '%';
      i += 2;
    } else if (rest.starts_with("%0D")) {
      out += '\r';
      i += 2;
    } else if (rest.starts_with("%0A")) {
      out += '\n';
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace idem::detail::nats
