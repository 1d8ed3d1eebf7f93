// NATS client handles: owning pointers for nats.c objects, the connection built from
// NatsTransportOptions, and the one place where a natsStatus becomes an idem::Error.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "idem/error.h"
#include "idem/nats_transport.h"
#include "idem/transport.h"

namespace idem::detail::nats {

template <typename T, void (*destroy)(T*)>
struct Destroyer {
  void operator()(T* p) const noexcept { destroy(p); }
};
using MsgPtr = std::unique_ptr<natsMsg, Destroyer<natsMsg, natsMsg_Destroy>>;
using JsCtxPtr = std::unique_ptr<jsCtx, Destroyer<jsCtx, jsCtx_Destroy>>;
using SubscriptionPtr =
    std::unique_ptr<natsSubscription, Destroyer<natsSubscription, natsSubscription_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Destroyer<jsStreamInfo, jsStreamInfo_Destroy>>;
using ConsumerInfoPtr =
    std::unique_ptr<jsConsumerInfo, Destroyer<jsConsumerInfo, jsConsumerInfo_Destroy>>;
using MetaDataPtr = std::unique_ptr<jsMsgMetaData, Destroyer<jsMsgMetaData, jsMsgMetaData_Destroy>>;
using KvStorePtr = std::unique_ptr<kvStore, Destroyer<kvStore, kvStore_Destroy>>;
using KvEntryPtr = std::unique_ptr<kvEntry, Destroyer<kvEntry, kvEntry_Destroy>>;

// Closes and destroys the connection.
struct ConnectionCloser {
  void operator()(natsConnection* nc) const noexcept;
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionCloser>;

// What the caller should do about `s`: kTransient for lost or unreachable servers, timeouts and
// missing responders; kOverloaded for slow consumers; kPermanent for invalid arguments, refused
// authentication and TLS failures, and a message over the server's max_payload.
ErrorKind kindOf(natsStatus s) noexcept;
// The same for a JetStream API or PubAck error: `code` is the server's error code (0: none) and
// `text` its description. kPermanent when the message or request can never be accepted as it is
// (over the stream's maximum message or header size, a sealed stream, subjects overlapping
// another stream's); kOverloaded when storage is exhausted (a stream full under discard-new
// limits, account or server storage limits); otherwise kindOf(s). Each choice is argued beside
// the code and in docs/nats.md ("What publish reports").
ErrorKind kindOf(natsStatus s, jsErrCode code, std::string_view text = {}) noexcept;

// Throws idem::Error of kindOf(s, jsError) naming `what`, the status and the JetStream error
// code, unless s is NATS_OK.
void check(natsStatus s, std::string_view what, jsErrCode jsError = static_cast<jsErrCode>(0));

// Connects as `options` says, with reconnects that never give up. Throws idem::Error: kTransient
// when no server answers, kPermanent for bad options or files, or refused authentication.
ConnectionPtr connect(const NatsTransportOptions& options);

// A header's value as a whole decimal number; nullopt when absent or not one.
std::optional<std::int64_t> headerNumber(natsMsg* msg, const char* name);
// A header's value; empty when absent.
std::string headerText(natsMsg* msg, const char* name);
// The message's body, copied.
Bytes bodyOf(natsMsg* msg);
// An entry of an error stream (headers: framework/nats_layout.h) read back as an ErrorEntry with
// id `sequence`.
ErrorEntry errorEntryOf(natsMsg* msg, std::uint64_t sequence);

// The KV bucket `name` (history 1, file storage), created with `replicas` when absent (a
// concurrent creator is tolerated). Throws idem::Error naming `what` and the bucket.
KvStorePtr openBucket(jsCtx* js, const char* name, int replicas, std::string_view what);

// A JetStream context whose API requests wait up to `wait`.
JsCtxPtr jetStream(natsConnection* nc, std::chrono::milliseconds wait,
                   jsPubAckHandler ackHandler = nullptr, void* ackClosure = nullptr);

}  // namespace idem::detail::nats
