// NATS client handles and the natsStatus translation.
#include "framework/nats_client.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>
#include <vector>

#include "framework/nats_layout.h"

namespace idem::detail::nats {

void ConnectionCloser::operator()(natsConnection* nc) const noexcept {
  natsConnection_Close(nc);
  natsConnection_Destroy(nc);
}

ErrorKind kindOf(natsStatus s) noexcept {
  switch (s) {
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_TIMEOUT:
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_SSL_ERROR:
    case NATS_MAX_PAYLOAD:
      return ErrorKind::kPermanent;
    case NATS_SLOW_CONSUMER:
    case NATS_INSUFFICIENT_BUFFER:
      return ErrorKind::kOverloaded;
    default:
      return ErrorKind::kTransient;
  }
}

ErrorKind kindOf(natsStatus s, jsErrCode code, std::string_view text) noexcept {
  // 10097 (JSStreamHeaderExceedsMaximumErr) is not in nats.c 3.4's enumeration.
  constexpr int kHeaderExceedsMaximum = 10097;
  if (static_cast<int>(code) == kHeaderExceedsMaximum) return ErrorKind::kPermanent;
  switch (code) {
    // The message's bytes are what they are: its stream (MaxMsgSize, set by an operator; idem
    // sets none) refuses it on every try, as the 64 KiB header limit above does.
    case JSStreamMessageExceedsMaximumErr:
    // A sealed stream never accepts a message again (sealing cannot be undone).
    case JSStreamSealedErr:
    // Creating an endpoint's stream conflicts with the subjects of a stream someone else made:
    // a deployment error that no retry repairs.
    case JSStreamSubjectOverlapErr:
      return ErrorKind::kPermanent;
    // The store failed: "maximum messages/bytes (per subject) exceeded" is a stream full under
    // an operator's discard-new limits, which drains as its consumers ack (back off); a write
    // error may pass too. Only "message to large" (sic, the server's text for a message its
    // store can never hold) is permanent.
    case JSStreamStoreFailedErr:
      if (text.find("to large") != std::string_view::npos ||
          text.find("too large") != std::string_view::npos) {
        return ErrorKind::kPermanent;
      }
      return ErrorKind::kOverloaded;
    // Storage of the account or server is exhausted: space returns as consumers ack.
    case JSAccountResourcesExceededErr:
    case JSInsufficientResourcesErr:
    case JSMemoryResourcesExceededErr:
    case JSStorageResourcesExceededErr:
    case JSMaximumStreamsLimitErr:
      return ErrorKind::kOverloaded;
    // Expectations (expected stream, last sequence, last message id) are never set by idem; a
    // mismatch would mean another writer moved the stream, and re-reading it could succeed:
    // not permanent. Everything else (cluster elections, no leader, ...) passes as well.
    default:
      return kindOf(s);
  }
}

void check(natsStatus s, std::string_view what, jsErrCode jsError) {
  if (s == NATS_OK) return;
  std::string text = std::string(what) + ": " + natsStatus_GetText(s);
  if (jsError != 0) text += " (JetStream error " + std::to_string(jsError) + ")";
  if (s == NATS_NO_RESPONDERS) text += "; is JetStream enabled on the server (-js)?";
  std::string_view lastError;
  if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
    lastError = last;
    text += " [";
    text += last;
    text += "]";
  }
  fail(kindOf(s, jsError, lastError), text);
}

namespace {

void onDisconnected(natsConnection* nc, void*) {
  if (natsConnection_IsClosed(nc)) return;  // closed by us
  spdlog::warn("NATS connection lost; reconnecting");
}
void onReconnected(natsConnection*, void*) { spdlog::info("NATS connection re-established"); }

std::vector<std::string> splitUrls(const std::string& urls) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= urls.size()) {
    const std::size_t comma = urls.find(',', start);
    const std::size_t end = comma == std::string::npos ? urls.size() : comma;
    if (end > start) out.push_back(urls.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

ConnectionPtr connect(const NatsTransportOptions& o) {
  natsOptions* raw = nullptr;
  check(natsOptions_Create(&raw), "NATS options");
  std::unique_ptr<natsOptions, Destroyer<natsOptions, natsOptions_Destroy>> opts(raw);

  const std::vector<std::string> urls = splitUrls(o.url);
  if (urls.empty()) fail(ErrorKind::kPermanent, "NatsTransportOptions::url is empty");
  std::vector<const char*> servers;
  for (const std::string& u : urls) servers.push_back(u.c_str());
  check(natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size())),
        "NATS server list '" + o.url + "'");
  check(natsOptions_SetName(opts.get(), "idem"), "NATS options");
  check(natsOptions_SetTimeout(opts.get(), o.connectTimeout.count()), "NATS connect timeout");
  check(natsOptions_SetMaxReconnect(opts.get(), -1), "NATS reconnect");
  check(natsOptions_SetReconnectWait(opts.get(), o.reconnectWait.count()), "NATS reconnect");
  check(natsOptions_SetDisconnectedCB(opts.get(), onDisconnected, nullptr), "NATS options");
  check(natsOptions_SetReconnectedCB(opts.get(), onReconnected, nullptr), "NATS options");
  if (!o.credentialsFile.empty()) {
    check(natsOptions_SetUserCredentialsFromFiles(opts.get(), o.credentialsFile.c_str(), nullptr),
          "NATS credentials file " + o.credentialsFile);
  }
  if (!o.user.empty()) {
    check(natsOptions_SetUserInfo(opts.get(), o.user.c_str(), o.password.c_str()), "NATS user");
  }
  if (!o.tlsCaFile.empty()) {
    check(natsOptions_SetSecure(opts.get(), true), "NATS TLS");
    check(natsOptions_LoadCATrustedCertificates(opts.get(), o.tlsCaFile.c_str()),
          "NATS TLS CA file " + o.tlsCaFile);
  }
  if (!o.tlsCertFile.empty()) {
    check(
        natsOptions_LoadCertificatesChain(opts.get(), o.tlsCertFile.c_str(), o.tlsKeyFile.c_str()),
        "NATS TLS client certificate " + o.tlsCertFile);
  }

  natsConnection* nc = nullptr;
  const natsStatus s = natsConnection_Connect(&nc, opts.get());
  if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR) {
    fail(ErrorKind::kTransient, "no NATS server answers at " + o.url + " (" +
                                    natsStatus_GetText(s) + "); is nats-server running?");
  }
  check(s, "connecting to NATS at " + o.url);
  return ConnectionPtr(nc);
}

std::optional<std::int64_t> headerNumber(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) != NATS_OK || value == nullptr) return std::nullopt;
  std::int64_t n = 0;
  const char* end = value + std::strlen(value);
  auto [ptr, ec] = std::from_chars(value, end, n);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return n;
}

std::string headerText(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) != NATS_OK || value == nullptr) return {};
  return value;
}

Bytes bodyOf(natsMsg* msg) {
  const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(msg));
  return Bytes(data, data + natsMsg_GetDataLength(msg));
}

ErrorEntry errorEntryOf(natsMsg* msg, std::uint64_t sequence) {
  ErrorEntry e;
  e.id = sequence;
  e.envelope = bodyOf(msg);
  e.report.reason = unescapeHeader(headerText(msg, kReasonHeader));
  e.report.detail = unescapeHeader(headerText(msg, kDetailHeader));
  e.report.attempts = static_cast<std::uint32_t>(headerNumber(msg, kAttemptsHeader).value_or(0));
  e.report.failedAt = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::nanoseconds(headerNumber(msg, kFailedAtHeader).value_or(0))));
  return e;
}

KvStorePtr openBucket(jsCtx* js, const char* name, int replicas, std::string_view what) {
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, js, name);
  if (s == NATS_NOT_FOUND) {
    kvConfig config;
    check(kvConfig_Init(&config), "KV options");
    config.Bucket = name;
    config.History = 1;
    config.Replicas = replicas;
    config.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&kv, js, &config);
    if (s != NATS_OK) s = js_KeyValue(&kv, js, name);  // another process won
  }
  check(s, std::string(what) + " " + name);
  return KvStorePtr(kv);
}

JsCtxPtr jetStream(natsConnection* nc, std::chrono::milliseconds wait, jsPubAckHandler ackHandler,
                   void* ackClosure) {
  jsOptions jo;
  check(jsOptions_Init(&jo), "JetStream options");
  jo.Wait = wait.count();
  jo.PublishAsync.AckHandler = ackHandler;
  jo.PublishAsync.AckHandlerClosure = ackClosure;
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, &jo), "JetStream context");
  return JsCtxPtr(js);
}

}  // namespace idem::detail::nats
