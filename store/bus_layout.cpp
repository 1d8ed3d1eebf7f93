// BusLayout: encoding and decoding of the bus's keys and records (grammar in bus_layout.h).
#include "store/bus_layout.h"

#include <algorithm>
#include <chrono>

#include "idem/error.h"

namespace idem::store::bus {

void appendBe(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = bytes; i-- > 0;) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t readBe(const std::byte* at, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(at[i]);
  return v;
}

std::string be64(std::uint64_t value) {
  std::string s;
  appendBe(s, value, 8);
  return s;
}

void checkEndpoint(std::string_view endpoint) {
  if (endpoint.empty() || endpoint.size() > kMaxEndpointBytes ||
      endpoint.find('\0') != std::string_view::npos) {
    fail(ErrorKind::kPermanent, "invalid endpoint name '" + std::string(endpoint) +
                                    "': must be 1.." + std::to_string(kMaxEndpointBytes) +
                                    " bytes without NUL");
  }
}

std::string prefixOf(std::string_view endpoint) {
  std::string k(endpoint);
  k.push_back('\0');
  return k;
}

std::string endpointKey(std::string_view endpoint, std::uint64_t seq) {
  std::string k = prefixOf(endpoint);
  appendBe(k, seq, 8);
  return k;
}

std::uint64_t seqOf(Span key) { return readBe(key.data() + key.size() - 8, 8); }

std::string timeKey(std::int64_t ns, std::uint64_t seq) {
  std::string k = be64(static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0)));
  appendBe(k, seq, 8);
  return k;
}

std::int64_t toNs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string encodeCounts(const Counts& counts) {
  std::string value;
  for (std::int64_t c : counts) appendBe(value, static_cast<std::uint64_t>(c), 8);
  return value;
}

std::optional<Counts> decodeCounts(Span value) {
  if (value.size() != 8 * std::size_t{kColumns}) return std::nullopt;
  Counts c{};
  for (std::size_t i = 0; i < kColumns; ++i) {
    c[i] = static_cast<std::int64_t>(readBe(value.data() + 8 * i, 8));
  }
  return c;
}

std::string encodeMessage(std::uint32_t attempt, std::string_view endpoint, Span envelope) {
  std::string value;
  value.reserve(8 + endpoint.size() + envelope.size());
  appendBe(value, attempt, 4);
  appendBe(value, endpoint.size(), 4);
  value.append(endpoint).append(chars(envelope));
  return value;
}

std::optional<StoredMessage> decodeMessage(Span value) {
  if (value.size() < 8) return std::nullopt;
  const std::size_t length = readBe(value.data() + 4, 4);
  if (value.size() < 8 + length) return std::nullopt;
  StoredMessage m;
  m.attempt = static_cast<std::uint32_t>(readBe(value.data(), 4));
  m.endpoint.assign(chars(value.subspan(8, length)));
  m.envelope.assign(value.begin() + static_cast<std::ptrdiff_t>(8 + length), value.end());
  return m;
}

std::string encodeLease(std::int64_t expiryNs, std::uint64_t owner) {
  std::string value = be64(static_cast<std::uint64_t>(expiryNs));
  appendBe(value, owner, 8);
  return value;
}

std::optional<std::int64_t> leaseExpiry(Span value) {
  if (value.size() != 16) return std::nullopt;
  return static_cast<std::int64_t>(readBe(value.data(), 8));
}

std::string encodeError(const ErrorReport& report, Span envelope) {
  std::string value;
  appendBe(value, report.attempts, 4);
  appendBe(value, report.reason.size(), 4);
  appendBe(value, report.detail.size(), 4);
  appendBe(value, 0, 4);
  appendBe(value, static_cast<std::uint64_t>(std::max<std::int64_t>(toNs(report.failedAt), 0)), 8);
  value.append(report.reason).append(report.detail).append(chars(envelope));
  return value;
}

std::optional<ErrorEntry> decodeError(Span key, Span value) {
  if (key.size() < 8 || value.size() < 24) return std::nullopt;
  const std::size_t reasonLength = readBe(value.data() + 4, 4);
  const std::size_t detailLength = readBe(value.data() + 8, 4);
  if (value.size() < 24 + reasonLength + detailLength) return std::nullopt;
  ErrorEntry e;
  e.id = seqOf(key);
  e.report.attempts = static_cast<std::uint32_t>(readBe(value.data(), 4));
  e.report.failedAt = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::nanoseconds(readBe(value.data() + 16, 8))));
  e.report.reason.assign(chars(value.subspan(24, reasonLength)));
  e.report.detail.assign(chars(value.subspan(24 + reasonLength, detailLength)));
  e.envelope.assign(value.begin() + static_cast<std::ptrdiff_t>(24 + reasonLength + detailLength),
                    value.end());
  return e;
}

}  // namespace idem::store::bus
