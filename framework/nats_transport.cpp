// NatsTransport: the Transport interface over JetStream streams, pull consumers and the
// subscription bucket (names and headers: framework/nats_layout.h).
#include "idem/nats_transport.h"

#include <kj/exception.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "framework/nats_client.h"
#include "framework/nats_fetch.h"
#include "framework/nats_layout.h"
#include "framework/nats_partitions.h"
#include "framework/nats_publisher.h"
#include "framework/nats_subscriptions.h"
#include "idem/canonical.h"
#include "idem/envelope.capnp.h"

namespace idem {

using namespace detail::nats;

namespace {

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t toNs(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

std::int64_t deliverAtNs(const Outbound& m) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(m.deliverAt.time_since_epoch())
      .count();
}

// The routing facts of an envelope: its message type, payload and entityKey hint. Throws
// idem::Error kPermanent when `bytes` are not an envelope.
struct Routing {
  std::uint64_t messageType = 0;
  Bytes payload;
  std::string hint;
};
Routing routingOf(std::span<const std::byte> bytes) {
  Routing r;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&] {
                 CanonicalReader reader(bytes, "envelope");
                 auto envelope = reader.root<wire::Envelope>();
                 r.messageType = envelope.getMessageType();
                 auto payload = envelope.getPayload();
                 const auto* data = reinterpret_cast<const std::byte*>(payload.begin());
                 r.payload.assign(data, data + payload.size());
                 r.hint = envelope.getEntityKey();
               })) {
    fail(ErrorKind::kPermanent, std::string("cannot read the envelope to route it: ") +
                                    exception->getDescription().cStr());
  }
  return r;
}

void validate(const NatsTransportOptions& o) {
  auto positive = [](std::chrono::milliseconds d, const char* name) {
    if (d <= std::chrono::milliseconds::zero()) {
      fail(ErrorKind::kPermanent,
           std::string("NatsTransportOptions::") + name + " must be positive");
    }
  };
  positive(o.ackWait, "ackWait");
  positive(o.duplicateWindow, "duplicateWindow");
  positive(o.publishTimeout, "publishTimeout");
  positive(o.connectTimeout, "connectTimeout");
  positive(o.reconnectWait, "reconnectWait");
  if (o.replicas < 1 || o.replicas > 5) {
    fail(ErrorKind::kPermanent, "NatsTransportOptions::replicas must be 1 to 5");
  }
  if (o.maxDeliveries == 0) {
    fail(ErrorKind::kPermanent, "NatsTransportOptions::maxDeliveries must be > 0");
  }
}

}  // namespace

NatsTransportOptions natsOptionsFor(std::string_view url) {
  if (!url.starts_with("nats://") && !url.starts_with("tls://")) {
    fail(ErrorKind::kPermanent, "not a NATS URL (nats://HOST:PORT): " + std::string(url));
  }
  NatsTransportOptions o;
  o.url = url;
  return o;
}

struct NatsTransport::Impl {
  // A delivery handed to the endpoint, until it is settled.
  struct Held {
    natsMsg* msg = nullptr;  // owned
    std::string consumer;
    std::uint64_t streamSequence = 0;
    std::uint32_t attempt = 1;
    std::chrono::steady_clock::time_point receivedAt;
  };
  struct Consumer {
    std::mutex fetching;  // one fetch at a time per subscription
    SubscriptionPtr subscription;
  };

  explicit Impl(const NatsTransportOptions& o)
      : options(o),
        connection(connect(o)),
        js(jetStream(connection.get(), o.publishTimeout)),
        publisher(connection.get(), o.publishTimeout),
        subscriptions(js.get(), o.replicas, o.publishTimeout),
        partitions(js.get(), o.replicas) {}

  ~Impl() {
    std::lock_guard guard(lock);
    for (auto& entry : held) natsMsg_Destroy(entry.second.msg);
  }

  void addStream(const std::string& name, const std::string& subject, jsRetentionPolicy retention);
  void ensureStreams(std::string_view endpoint);
  Consumer& consumer(std::string_view endpoint, std::uint32_t partition);
  std::vector<std::string> targetsOf(const Outbound& m) const;
  std::uint32_t partitionFor(const std::string& target, const Outbound& m);
  std::uint32_t partitionIn(const std::string& target, const Outbound& m,
                            std::uint32_t count) const;
  void forgetStreams();
  std::optional<std::uint32_t> misrouted(std::string_view endpoint, std::uint32_t partition,
                                         std::uint32_t count, natsMsg* msg);
  void forward(std::string_view endpoint, std::uint32_t partition, natsMsg* msg);
  std::optional<Held> take(std::uint64_t tag);
  std::uint64_t hold(Held held);
  void dropStale();

  const NatsTransportOptions& options;
  ConnectionPtr connection;
  JsCtxPtr js;  // management requests and dead letters
  Publisher publisher;
  SubscriptionTable subscriptions;
  PartitionTable partitions;

  std::mutex streamsLock;
  std::set<std::string, std::less<>> streams;  // endpoints whose streams are known to exist

  std::mutex lock;  // consumers, held, nextTag
  std::map<std::string, std::unique_ptr<Consumer>, std::less<>> consumers;  // by consumer name
  std::map<std::uint64_t, Held> held;
  std::uint64_t nextTag = 1;
};

void NatsTransport::Impl::addStream(const std::string& name, const std::string& subject,
                                    jsRetentionPolicy retention) {
  jsErrCode error = static_cast<jsErrCode>(0);
  jsStreamInfo* info = nullptr;
  natsStatus s = js_GetStreamInfo(&info, js.get(), name.c_str(), nullptr, &error);
  StreamInfoPtr existing(info);
  if (s == NATS_OK) return;  // kept as created (replicas and limits are the operator's)
  if (s != NATS_NOT_FOUND) check(s, "looking up stream " + name, error);

  jsStreamConfig config;
  check(jsStreamConfig_Init(&config), "stream options");
  const char* subjects[] = {subject.c_str()};
  config.Name = name.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Retention = retention;
  config.Storage = js_FileStorage;
  config.Replicas = options.replicas;
  config.Duplicates = toNs(options.duplicateWindow);
  info = nullptr;
  s = js_AddStream(&info, js.get(), &config, nullptr, &error);
  StreamInfoPtr added(info);
  if (s != NATS_OK) {  // another process may have created it meanwhile
    jsStreamInfo* again = nullptr;
    if (js_GetStreamInfo(&again, js.get(), name.c_str(), nullptr, nullptr) == NATS_OK) {
      jsStreamInfo_Destroy(again);
      return;
    }
    check(s, "creating stream " + name, error);
  }
}

void NatsTransport::Impl::ensureStreams(std::string_view endpoint) {
  {
    std::lock_guard guard(streamsLock);
    if (streams.contains(endpoint)) return;
  }
  requireEndpointName(endpoint);
  addStream(inputStream(endpoint), inputSubjects(endpoint), js_WorkQueuePolicy);
  addStream(errorStream(endpoint), errorSubject(endpoint), js_LimitsPolicy);
  std::lock_guard guard(streamsLock);
  streams.emplace(endpoint);
}

NatsTransport::Impl::Consumer& NatsTransport::Impl::consumer(std::string_view endpoint,
                                                             std::uint32_t partition) {
  const std::string name = consumerName(endpoint, partition);
  {
    std::lock_guard guard(lock);
    if (auto it = consumers.find(name); it != consumers.end()) return *it->second;
  }
  ensureStreams(endpoint);
  const std::string stream = inputStream(endpoint);
  const std::string subject = inputSubject(endpoint, partition);
  jsConsumerConfig config;
  check(jsConsumerConfig_Init(&config), "consumer options");
  config.Durable = name.c_str();
  config.AckPolicy = js_AckExplicit;
  config.AckWait = toNs(options.ackWait);
  config.MaxDeliver = -1;  // counted here: see receive()
  config.FilterSubject = subject.c_str();
  config.DeliverPolicy = js_DeliverAll;
  config.MaxAckPending = options.maxAckPending;
  jsErrCode error = static_cast<jsErrCode>(0);
  jsConsumerInfo* info = nullptr;
  natsStatus s = js_AddConsumer(&info, js.get(), stream.c_str(), &config, nullptr, &error);
  ConsumerInfoPtr added(info);
  if (s != NATS_OK) {  // exists with another configuration (e.g. another lease): update it
    info = nullptr;
    s = js_UpdateConsumer(&info, js.get(), stream.c_str(), &config, nullptr, &error);
    ConsumerInfoPtr updated(info);
  }
  check(s, "creating consumer " + name + " on " + stream, error);

  jsSubOptions subOptions;
  check(jsSubOptions_Init(&subOptions), "subscription options");
  subOptions.Stream = stream.c_str();
  subOptions.Consumer = name.c_str();
  natsSubscription* raw = nullptr;
  check(
      js_PullSubscribe(&raw, js.get(), subject.c_str(), name.c_str(), nullptr, &subOptions, &error),
      "binding to consumer " + name, error);
  auto made = std::make_unique<Consumer>();
  made->subscription.reset(raw);
  std::lock_guard guard(lock);
  auto [it, inserted] = consumers.emplace(name, std::move(made));
  return *it->second;
}

// Where `m` goes: its destination, or every endpoint subscribed to its type (none: dropped, as
// on the bus), as this process last saw the subscription bucket. No I/O.
std::vector<std::string> NatsTransport::Impl::targetsOf(const Outbound& m) const {
  if (!m.destination.empty()) return {m.destination};
  return subscriptions.subscribers(m.messageType);
}

std::uint32_t NatsTransport::Impl::partitionFor(const std::string& target, const Outbound& m) {
  return partitionIn(target, m, partitions.countOf(target));
}

// The partition of `m` among the `count` of `target`; no I/O. Throws idem::Error kPermanent when
// neither keyResolver nor the entityKey hint gives its key.
std::uint32_t NatsTransport::Impl::partitionIn(const std::string& target, const Outbound& m,
                                               std::uint32_t count) const {
  if (count == 1) return 0;  // nothing to decode: the unpartitioned path stays as cheap as before
  const Routing routing = routingOf(m.envelope);
  std::optional<std::string> key;
  if (options.keyResolver) key = options.keyResolver(target, routing.messageType, routing.payload);
  if (!key && !routing.hint.empty()) key = routing.hint;
  if (!key) {
    fail(ErrorKind::kPermanent,
         "cannot route message " + m.id.toHex() + " of type " + typeHex(m.messageType) +
             " to endpoint " + target + ", which has " + std::to_string(count) +
             " partitions: this process knows no key function of " + target +
             " for that type (NatsTransportOptions::keyResolver) and the envelope has no "
             "entityKey hint");
  }
  return partitionOf(*key, count);
}

// The partition a delivery belongs to, when it is not `partition`; nullopt when it is, or when
// its key cannot be derived here (then the pipeline decides what it is).
std::optional<std::uint32_t> NatsTransport::Impl::misrouted(std::string_view endpoint,
                                                            std::uint32_t partition,
                                                            std::uint32_t count, natsMsg* msg) {
  if (count == 1 || !options.keyResolver) return std::nullopt;
  try {
    const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(msg));
    const Routing routing = routingOf({data, static_cast<std::size_t>(natsMsg_GetDataLength(msg))});
    const auto key = options.keyResolver(endpoint, routing.messageType, routing.payload);
    if (!key) return std::nullopt;
    const std::uint32_t right = partitionOf(*key, count);
    if (right == partition) return std::nullopt;
    return right;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Moves a delivery to its right partition: 1. the copy is stored there (deduplicated per
// original and partition), 2. then the original is removed.
void NatsTransport::Impl::forward(std::string_view endpoint, std::uint32_t partition,
                                  natsMsg* msg) {
  MsgPtr original(msg);
  const std::string subject = inputSubject(endpoint, partition);
  natsMsg* raw = nullptr;
  check(natsMsg_Create(&raw, subject.c_str(), nullptr, natsMsg_GetData(msg),
                       natsMsg_GetDataLength(msg)),
        "forwarded message for " + subject);
  MsgPtr copy(raw);
  const std::string id = headerText(msg, kMsgIdHeader) + "-p" + std::to_string(partition);
  check(natsMsgHeader_Set(raw, kMsgIdHeader, id.c_str()), "header");
  for (const char* name : {kTypeHeader, kDeliverAtHeader}) {
    const std::string value = headerText(msg, name);
    if (!value.empty()) check(natsMsgHeader_Set(raw, name, value.c_str()), "header");
  }
  spdlog::warn(
      "a message for {} partition {} arrived in another partition (its sender routed "
      "it by a wrong entityKey hint): forwarded",
      endpoint, partition);
  std::vector<MsgPtr> one;
  one.push_back(std::move(copy));
  publisher.publishAll(std::move(one));
  check(natsMsg_Ack(msg, nullptr), "acknowledging a forwarded delivery");
}

std::uint64_t NatsTransport::Impl::hold(Held h) {
  std::lock_guard guard(lock);
  const std::uint64_t tag = nextTag++;
  held.emplace(tag, std::move(h));
  return tag;
}

std::optional<NatsTransport::Impl::Held> NatsTransport::Impl::take(std::uint64_t tag) {
  std::lock_guard guard(lock);
  auto it = held.find(tag);
  if (it == held.end()) return std::nullopt;
  Held h = std::move(it->second);
  held.erase(it);
  return h;
}

// Deliveries never settled (their batch failed) were delivered again long ago: forget them.
void NatsTransport::Impl::dropStale() {
  const auto cutoff = std::chrono::steady_clock::now() - 2 * options.ackWait;
  std::lock_guard guard(lock);
  for (auto it = held.begin(); it != held.end();) {
    if (it->second.receivedAt < cutoff) {
      natsMsg_Destroy(it->second.msg);
      it = held.erase(it);
    } else {
      ++it;
    }
  }
}

// After a failed publish: a stream may have been deleted (no responders), so the next publish
// looks each target's streams up again and re-creates those missing.
void NatsTransport::Impl::forgetStreams() {
  std::lock_guard guard(streamsLock);
  streams.clear();
}

NatsTransport::NatsTransport(NatsTransportOptions options) : options_(std::move(options)) {
  validate(options_);
  impl_ = std::make_unique<Impl>(options_);
  for (const auto& [endpoint, count] : options_.partitionCounts) {
    impl_->partitions.declare(endpoint, count);
  }
}

std::uint32_t NatsTransport::partitionCount(std::string_view endpoint) {
  return impl_->partitions.countOf(endpoint);
}

NatsTransport::~NatsTransport() {
  // The acks still buffered go out before the connection closes (ack() does not wait for them).
  if (impl_ && impl_->connection) (void)natsConnection_FlushTimeout(impl_->connection.get(), 1'000);
}

void NatsTransport::subscribe(std::string_view endpoint, std::uint64_t messageType) {
  requireEndpointName(endpoint);
  impl_->ensureStreams(endpoint);
  impl_->subscriptions.add(messageType, endpoint);
}

std::vector<Delivery> NatsTransport::receive(std::string_view endpoint, std::size_t maxCount,
                                             std::chrono::milliseconds maxWait) {
  return receivePartition(endpoint, 0, maxCount, maxWait);
}

std::vector<Delivery> NatsTransport::receivePartition(std::string_view endpoint,
                                                      std::uint32_t partition, std::size_t maxCount,
                                                      std::chrono::milliseconds maxWait) {
  if (maxCount == 0) return {};
  requireEndpointName(endpoint);
  const std::uint32_t count = impl_->partitions.countOf(endpoint);
  if (partition >= count) {
    fail(ErrorKind::kPermanent, "endpoint " + std::string(endpoint) + " has " +
                                    std::to_string(count) + " partitions: there is no partition " +
                                    std::to_string(partition));
  }
  Impl::Consumer& consumer = impl_->consumer(endpoint, partition);
  impl_->dropStale();
  const std::string consumerName = detail::nats::consumerName(endpoint, partition);

  jsFetchRequest request;
  check(jsFetchRequest_Init(&request), "fetch options");
  request.Batch = static_cast<int>(std::min<std::size_t>(maxCount, INT_MAX));
  if (maxWait <= std::chrono::milliseconds::zero()) {
    request.NoWait = true;
    request.Expires = toNs(std::chrono::milliseconds(100));  // the client's wait for the answer
  } else {
    request.Expires = toNs(maxWait);
  }
  natsMsgList list{};
  natsStatus s;
  {
    std::lock_guard guard(consumer.fetching);
    s = guardedFetch(list, consumer.subscription.get(), request);  // see nats_fetch.h
  }
  std::unique_ptr<natsMsgList, Destroyer<natsMsgList, natsMsgList_Destroy>> owned(&list);
  if (list.Count == 0) {
    if (s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return {};
    check(s, "fetching from " + consumerName);
  }

  std::vector<Delivery> out;
  std::vector<std::pair<std::uint64_t, ErrorReport>> exhausted;
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* msg = list.Msgs[i];
    list.Msgs[i] = nullptr;  // ours from here on
    jsMsgMetaData* rawMeta = nullptr;
    if (natsMsg_GetMetaData(&rawMeta, msg) != NATS_OK) {  // not a JetStream message
      natsMsg_Destroy(msg);
      continue;
    }
    MetaDataPtr meta(rawMeta);
    // Not due yet (a delayed message): hand it back until it is.
    const auto deliverAt = headerNumber(msg, kDeliverAtHeader);
    const std::int64_t now = nowNs();
    if (deliverAt && *deliverAt > now) {
      const std::int64_t waitMs = (*deliverAt - now + 999'999) / 1'000'000;
      natsMsg_NakWithDelay(msg, waitMs, nullptr);
      natsMsg_Destroy(msg);
      continue;
    }
    if (auto right = impl_->misrouted(endpoint, partition, count, msg)) {
      impl_->forward(endpoint, *right, msg);
      continue;
    }
    // A delayed message was most likely handed back once before its first real delivery.
    const std::uint64_t deferrals = deliverAt && *deliverAt > meta->Timestamp ? 1 : 0;
    const auto attempt = static_cast<std::uint32_t>(
        std::max<std::uint64_t>(1, meta->NumDelivered - std::min(deferrals, meta->NumDelivered)));
    Impl::Held h{msg, consumerName, meta->Sequence.Stream, attempt,
                 std::chrono::steady_clock::now()};
    Bytes body = bodyOf(msg);
    const std::uint64_t tag = impl_->hold(std::move(h));
    if (attempt > options_.maxDeliveries) {
      ErrorReport report;
      report.reason = "delivered " + std::to_string(attempt) + " times without being settled";
      report.detail = "more than maxDeliveries (" + std::to_string(options_.maxDeliveries) +
                      "): its consumers crashed or hung on it";
      report.attempts = attempt;
      report.failedAt = std::chrono::system_clock::now();
      exhausted.emplace_back(tag, std::move(report));
      continue;
    }
    out.push_back(Delivery{std::move(body), tag, attempt});
  }
  for (auto& [tag, report] : exhausted) deadLetter(endpoint, tag, report);
  return out;
}

// Everything publish() would refuse permanently that is known here without I/O. Not checked:
// a stream's own MaxMsgSize (set by an operator; idem sets none) and the partition key for a
// destination whose partition count this process has not seen yet (publish() reads it; those
// surface as a permanent publish error).
void NatsTransport::checkOutbound(const Outbound& message) const {
  if (!message.destination.empty()) requireEndpointName(message.destination);
  // The server refuses headers + body over its max_payload (1 MiB unless configured), on
  // every try; nats.c refuses it before sending.
  const std::int64_t maxPayload = natsConnection_GetMaxPayload(impl_->connection.get());
  const std::size_t size = message.envelope.size() + inputHeaderBytes(deliverAtNs(message));
  if (maxPayload > 0 && size > static_cast<std::uint64_t>(maxPayload)) {
    fail(ErrorKind::kPermanent,
         "message " + message.id.toHex() + " of type " + typeHex(message.messageType) + " takes " +
             std::to_string(size) + " bytes on NATS (envelope " +
             std::to_string(message.envelope.size()) + " + headers), over the server's " +
             "max_payload of " + std::to_string(maxPayload) + " bytes");
  }
  for (const std::string& target : impl_->targetsOf(message)) {
    requireEndpointName(target);
    if (auto count = impl_->partitions.knownCount(target)) {
      impl_->partitionIn(target, message, *count);
    }
  }
}

void NatsTransport::publish(std::span<const Outbound> messages) {
  std::vector<MsgPtr> copies;
  for (const Outbound& m : messages) {
    const std::string id = m.id.toHex();
    const std::string type = typeHex(m.messageType);
    const std::int64_t deliverAt = deliverAtNs(m);
    for (const std::string& target : impl_->targetsOf(m)) {
      impl_->ensureStreams(target);
      const std::string subject = inputSubject(target, impl_->partitionFor(target, m));
      natsMsg* raw = nullptr;
      check(natsMsg_Create(&raw, subject.c_str(), nullptr,
                           reinterpret_cast<const char*>(m.envelope.data()),
                           static_cast<int>(m.envelope.size())),
            "message for " + subject);
      MsgPtr msg(raw);
      check(natsMsgHeader_Set(raw, kMsgIdHeader, id.c_str()), "header");
      check(natsMsgHeader_Set(raw, kTypeHeader, type.c_str()), "header");
      if (deliverAt > 0) {
        check(natsMsgHeader_Set(raw, kDeliverAtHeader, std::to_string(deliverAt).c_str()),
              "header");
      }
      copies.push_back(std::move(msg));
    }
  }
  try {
    impl_->publisher.publishAll(std::move(copies));
  } catch (const Error&) {
    impl_->forgetStreams();
    throw;
  }
}

void NatsTransport::ack(std::string_view, std::span<const std::uint64_t> tags) {
  natsStatus first = NATS_OK;
  for (std::uint64_t tag : tags) {
    auto h = impl_->take(tag);
    if (!h) continue;
    const natsStatus s = natsMsg_Ack(h->msg, nullptr);
    if (first == NATS_OK) first = s;
    natsMsg_Destroy(h->msg);
  }
  // Not flushed: the acks go out with the connection's next write (the next fetch request
  // follows them on the same connection) or its flusher's, without a round trip of their own.
  // An ack lost to a crash is a redelivery, which the store deduplicates.
  check(first, "acknowledging deliveries");
}

void NatsTransport::retryLater(std::string_view, std::uint64_t tag,
                               std::chrono::milliseconds delay) {
  auto h = impl_->take(tag);
  if (!h) return;
  const natsStatus s = delay > std::chrono::milliseconds::zero()
                           ? natsMsg_NakWithDelay(h->msg, delay.count(), nullptr)
                           : natsMsg_Nak(h->msg, nullptr);
  natsMsg_Destroy(h->msg);
  check(s, "handing a delivery back for a retry");
}

void NatsTransport::deadLetter(std::string_view endpoint, std::uint64_t tag,
                               const ErrorReport& report) {
  auto h = impl_->take(tag);
  if (!h) return;
  MsgPtr original(h->msg);
  impl_->ensureStreams(endpoint);
  const std::string subject = errorSubject(endpoint);
  natsMsg* raw = nullptr;
  check(natsMsg_Create(&raw, subject.c_str(), nullptr, natsMsg_GetData(original.get()),
                       natsMsg_GetDataLength(original.get())),
        "error message for " + subject);
  MsgPtr entry(raw);
  const std::string id = h->consumer + "-" + std::to_string(h->streamSequence);
  const std::string failedAt = std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(report.failedAt.time_since_epoch())
          .count());
  check(natsMsgHeader_Set(raw, kMsgIdHeader, id.c_str()), "header");
  check(natsMsgHeader_Set(raw, kEndpointHeader, std::string(endpoint).c_str()), "header");
  check(natsMsgHeader_Set(raw, kReasonHeader, escapeHeader(report.reason).c_str()), "header");
  check(natsMsgHeader_Set(raw, kDetailHeader, escapeHeader(report.detail).c_str()), "header");
  check(natsMsgHeader_Set(raw, kAttemptsHeader, std::to_string(report.attempts).c_str()), "header");
  check(natsMsgHeader_Set(raw, kFailedAtHeader, failedAt.c_str()), "header");
  std::vector<MsgPtr> one;
  one.push_back(std::move(entry));
  // 1. The error entry is stored (deduplicated per original), 2. then the original is removed.
  impl_->publisher.publishAll(std::move(one));
  // Waits for the server's confirmation of the ack, so that the move is complete on return (an
  // ack is otherwise applied asynchronously after the flush).
  jsOptions ackOptions;
  check(jsOptions_Init(&ackOptions), "ack options");
  ackOptions.Wait = options_.publishTimeout.count();
  jsErrCode error = static_cast<jsErrCode>(0);
  check(natsMsg_AckSync(original.get(), &ackOptions, &error),
        "acknowledging a dead-lettered delivery", error);
}

std::uint64_t NatsTransport::pending(std::string_view endpoint) const {
  requireEndpointName(endpoint);
  // This process's acks reach the server first, so that what it acked is not counted.
  check(natsConnection_FlushTimeout(impl_->connection.get(), options_.publishTimeout.count()),
        "flushing acknowledgements to NATS");
  const std::string name = inputStream(endpoint);
  jsStreamInfo* raw = nullptr;
  jsErrCode error = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&raw, impl_->js.get(), name.c_str(), nullptr, &error);
  StreamInfoPtr info(raw);
  if (s == NATS_NOT_FOUND) return 0;
  check(s, "stream " + name, error);
  return info->State.Msgs;
}

std::vector<ErrorEntry> NatsTransport::errors(std::string_view endpoint, std::size_t limit) const {
  requireEndpointName(endpoint);
  const std::string name = errorStream(endpoint);
  jsStreamInfo* raw = nullptr;
  jsErrCode error = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&raw, impl_->js.get(), name.c_str(), nullptr, &error);
  StreamInfoPtr info(raw);
  if (s == NATS_NOT_FOUND) return {};
  check(s, "stream " + name, error);
  std::vector<ErrorEntry> out;
  if (info->State.Msgs == 0) return out;
  for (std::uint64_t seq = info->State.FirstSeq; seq <= info->State.LastSeq && out.size() < limit;
       ++seq) {
    natsMsg* rawMsg = nullptr;
    s = js_GetMsg(&rawMsg, impl_->js.get(), name.c_str(), seq, nullptr, &error);
    MsgPtr msg(rawMsg);
    if (s == NATS_NOT_FOUND) continue;  // purged
    check(s, "reading " + name + " #" + std::to_string(seq), error);
    out.push_back(errorEntryOf(msg.get(), seq));
  }
  return out;
}

}  // namespace idem
