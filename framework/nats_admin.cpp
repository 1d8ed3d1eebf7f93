// NatsAdmin: stream and consumer information, direct reads and deletes of the error stream, and
// raw publishes with a Nats-Msg-Id of our choosing (names and headers: framework/nats_layout.h).
#include "idem/nats_admin.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "framework/nats_client.h"
#include "framework/nats_layout.h"
#include "framework/nats_publisher.h"
#include "idem/canonical.h"
#include "idem/envelope.capnp.h"

namespace idem {

using namespace detail::nats;

namespace {

// publishCopy() sends to partition 0: the demo it serves runs its endpoints unpartitioned
// (a partitioned endpoint's copy would need NatsTransport::publish's routing). Retried error
// entries go back to the partition they were dead-lettered from (partitionOfErrorId).
constexpr std::uint32_t kPartition = 0;
constexpr std::string_view kInputPrefix = "IDEM_IN_";

// Absent streams and messages come back as NATS_NOT_FOUND or as a JetStream error code,
// depending on the request.
bool notFound(natsStatus s, jsErrCode error) {
  return s == NATS_NOT_FOUND || error == JSStreamNotFoundErr || error == JSNoMessageFoundErr;
}

// The message id and type an envelope names; nullopt when the bytes are no envelope (a
// malformed message retried as it came).
struct EnvelopeFacts {
  std::string id;
  std::uint64_t type = 0;
};
std::optional<EnvelopeFacts> envelopeFacts(const Bytes& bytes) {
  try {
    CanonicalReader reader(bytes, "envelope");
    auto envelope = reader.root<wire::Envelope>();
    auto id = MessageId::fromBytes({envelope.getId().begin(), envelope.getId().size()});
    if (!id) return std::nullopt;
    return EnvelopeFacts{id->toHex(), envelope.getMessageType()};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The partition a dead-lettered delivery came from: its error entry's Nats-Msg-Id is
// "<consumer>-<stream sequence>" and the consumer's name ends in "_p<partition>" (nats_layout.h).
std::uint32_t partitionOfErrorId(std::string_view msgId) {
  const std::size_t dash = msgId.rfind('-');
  const std::size_t p = msgId.substr(0, dash).rfind("_p");
  if (dash == std::string_view::npos || p == std::string_view::npos) return kPartition;
  std::uint32_t partition = 0;
  const char* first = msgId.data() + p + 2;
  const char* last = msgId.data() + dash;
  auto [end, ec] = std::from_chars(first, last, partition);
  return ec == std::errc() && end == last ? partition : kPartition;
}

MsgPtr inputMessage(std::string_view endpoint, const Bytes& body, const std::string& msgId,
                    std::optional<std::uint64_t> type, std::uint32_t partition = kPartition) {
  const std::string subject = inputSubject(endpoint, partition);
  natsMsg* raw = nullptr;
  check(natsMsg_Create(&raw, subject.c_str(), nullptr, reinterpret_cast<const char*>(body.data()),
                       static_cast<int>(body.size())),
        "message for " + subject);
  MsgPtr msg(raw);
  check(natsMsgHeader_Set(raw, kMsgIdHeader, msgId.c_str()), "header");
  if (type) check(natsMsgHeader_Set(raw, kTypeHeader, typeHex(*type).c_str()), "header");
  return msg;
}

}  // namespace

struct NatsAdmin::Impl {
  explicit Impl(const NatsTransportOptions& o)
      : connection(connect(o)),
        js(jetStream(connection.get(), o.publishTimeout)),
        publisher(connection.get(), o.publishTimeout) {}

  // The stream's info; nullptr when it does not exist.
  StreamInfoPtr streamInfo(const std::string& name) const {
    jsStreamInfo* raw = nullptr;
    jsErrCode error = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&raw, js.get(), name.c_str(), nullptr, &error);
    StreamInfoPtr info(raw);
    if (notFound(s, error)) return nullptr;
    check(s, "stream " + name, error);
    return info;
  }

  ConnectionPtr connection;
  JsCtxPtr js;
  Publisher publisher;
};

NatsAdmin::NatsAdmin(const NatsTransportOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}

NatsAdmin::~NatsAdmin() = default;

NatsQueueStats NatsAdmin::queue(std::string_view endpoint) const {
  requireEndpointName(endpoint);
  NatsQueueStats q;
  q.endpoint = endpoint;
  const std::string input = inputStream(endpoint);
  if (StreamInfoPtr info = impl_->streamInfo(input)) {
    q.messages = info->State.Msgs;
    jsConsumerInfoList* raw = nullptr;
    jsErrCode error = static_cast<jsErrCode>(0);
    const natsStatus s = js_Consumers(&raw, impl_->js.get(), input.c_str(), nullptr, &error);
    std::unique_ptr<jsConsumerInfoList, Destroyer<jsConsumerInfoList, jsConsumerInfoList_Destroy>>
        list(raw);
    if (!notFound(s, error)) check(s, "consumers of " + input, error);
    for (int i = 0; list && i < list->Count; ++i) {
      const jsConsumerInfo* c = list->List[i];
      q.ready += c->NumPending;
      q.inFlight += static_cast<std::uint64_t>(std::max<std::int64_t>(0, c->NumAckPending));
      q.redelivered += static_cast<std::uint64_t>(std::max<std::int64_t>(0, c->NumRedelivered));
      ++q.consumers;
    }
  }
  if (StreamInfoPtr info = impl_->streamInfo(errorStream(endpoint))) q.errors = info->State.Msgs;
  return q;
}

std::vector<NatsQueueStats> NatsAdmin::queues() const {
  jsStreamNamesList* raw = nullptr;
  jsErrCode error = static_cast<jsErrCode>(0);
  const natsStatus s = js_StreamNames(&raw, impl_->js.get(), nullptr, &error);
  std::unique_ptr<jsStreamNamesList, Destroyer<jsStreamNamesList, jsStreamNamesList_Destroy>> list(
      raw);
  if (s == NATS_NOT_FOUND) return {};  // no streams at all
  check(s, "listing streams", error);
  if (!list) return {};
  std::vector<std::string> endpoints;
  for (int i = 0; i < list->Count; ++i) {
    const std::string_view name = list->List[i];
    if (name.starts_with(kInputPrefix)) endpoints.emplace_back(name.substr(kInputPrefix.size()));
  }
  std::sort(endpoints.begin(), endpoints.end());
  std::vector<NatsQueueStats> out;
  for (const std::string& e : endpoints) {
    if (validEndpointName(e)) out.push_back(queue(e));
  }
  return out;
}

std::vector<ErrorEntry> NatsAdmin::errors(std::string_view endpoint, std::size_t limit) const {
  requireEndpointName(endpoint);
  const std::string name = errorStream(endpoint);
  StreamInfoPtr info = impl_->streamInfo(name);
  std::vector<ErrorEntry> out;
  if (!info || info->State.Msgs == 0) return out;
  for (std::uint64_t seq = info->State.FirstSeq; seq <= info->State.LastSeq && out.size() < limit;
       ++seq) {
    natsMsg* rawMsg = nullptr;
    jsErrCode error = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetMsg(&rawMsg, impl_->js.get(), name.c_str(), seq, nullptr, &error);
    MsgPtr msg(rawMsg);
    if (notFound(s, error)) continue;  // deleted
    check(s, "reading " + name + " #" + std::to_string(seq), error);
    out.push_back(errorEntryOf(msg.get(), seq));
  }
  return out;
}

std::size_t NatsAdmin::retryErrors(std::string_view endpoint, std::optional<std::uint64_t> id) {
  const std::string name = errorStream(endpoint);
  std::size_t moved = 0;
  for (const ErrorEntry& e : errors(endpoint)) {
    if (id && e.id != *id) continue;
    const auto facts = envelopeFacts(e.envelope);
    const std::string msgId =
        (facts ? facts->id : name) + "-retry-" + std::to_string(e.id);  // unique per entry
    // Back to the partition it was dead-lettered from (its error entry's id says which).
    natsMsg* rawEntry = nullptr;
    jsErrCode entryError = static_cast<jsErrCode>(0);
    check(js_GetMsg(&rawEntry, impl_->js.get(), name.c_str(), e.id, nullptr, &entryError),
          "reading " + name + " #" + std::to_string(e.id), entryError);
    MsgPtr entry(rawEntry);
    const std::uint32_t partition = partitionOfErrorId(headerText(entry.get(), kMsgIdHeader));
    std::vector<MsgPtr> one;
    one.push_back(inputMessage(endpoint, e.envelope, msgId,
                               facts ? std::optional(facts->type) : std::nullopt, partition));
    // 1. The copy is stored in the input stream, 2. then the entry leaves the error stream.
    impl_->publisher.publishAll(std::move(one));
    jsErrCode error = static_cast<jsErrCode>(0);
    const natsStatus s = js_DeleteMsg(impl_->js.get(), name.c_str(), e.id, nullptr, &error);
    if (!notFound(s, error)) check(s, "deleting " + name + " #" + std::to_string(e.id), error);
    ++moved;
  }
  return moved;
}

std::size_t NatsAdmin::purgeErrors(std::string_view endpoint, std::optional<std::uint64_t> id) {
  requireEndpointName(endpoint);
  const std::string name = errorStream(endpoint);
  jsErrCode error = static_cast<jsErrCode>(0);
  if (id) {
    const natsStatus s = js_DeleteMsg(impl_->js.get(), name.c_str(), *id, nullptr, &error);
    if (notFound(s, error)) return 0;
    check(s, "deleting " + name + " #" + std::to_string(*id), error);
    return 1;
  }
  StreamInfoPtr info = impl_->streamInfo(name);
  if (!info) return 0;
  check(js_PurgeStream(impl_->js.get(), name.c_str(), nullptr, &error), "purging " + name, error);
  return info->State.Msgs;
}

void NatsAdmin::publishCopy(const Outbound& message, std::string_view copyTag) {
  if (message.destination.empty()) {
    fail(ErrorKind::kPermanent, "NatsAdmin::publishCopy: message " + message.id.toHex() +
                                    " has no destination (copies go to one endpoint)");
  }
  requireEndpointName(message.destination);
  std::vector<MsgPtr> one;
  one.push_back(inputMessage(message.destination, message.envelope,
                             message.id.toHex() + "-" + std::string(copyTag), message.messageType));
  if (message.deliverAt.time_since_epoch().count() > 0) {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(message.deliverAt.time_since_epoch());
    check(natsMsgHeader_Set(one.back().get(), kDeliverAtHeader, std::to_string(ns.count()).c_str()),
          "header");
  }
  impl_->publisher.publishAll(std::move(one));
}

void NatsAdmin::deleteStreams(std::string_view endpoint) {
  requireEndpointName(endpoint);
  for (const std::string& name : {inputStream(endpoint), errorStream(endpoint)}) {
    jsErrCode error = static_cast<jsErrCode>(0);
    const natsStatus s = js_DeleteStream(impl_->js.get(), name.c_str(), nullptr, &error);
    if (!notFound(s, error)) check(s, "deleting stream " + name, error);
  }
}

}  // namespace idem
