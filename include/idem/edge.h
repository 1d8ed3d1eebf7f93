// Edge messages: envelopes built outside any handler, for messages entering the system (a form
// submitted, a command typed into `idem send`). Give each a stable id (MessageId::forEdge), so a
// retried submission is recognised as a duplicate.
#pragma once

#include <capnp/generated-header-support.h>
#include <capnp/message.h>

#include <string_view>

#include "idem/canonical.h"
#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem {

struct EdgeAddress {
  MessageId id;
  std::string_view destination;  // empty: published to the subscribers of the type
  TimePoint recordedAt{};
  // The envelope's entityKey routing hint (empty: none). Transports route to a partitioned
  // endpoint by the receiver's own key function when they know it, else by this hint.
  std::string_view entityKey{};
  // The endpoint (or gateway queue) that ctx.reply() in the receiving handler answers to, sent
  // as the envelope's source (empty: none; reply() then throws and Context::canReply() is
  // false). The HTTP gateway names its own reply queue here (docs/http.md).
  std::string_view replyTo{};
};

// The canonical envelope around `payload` (canonical bytes of a struct of `messageType`).
Bytes edgeEnvelope(const EdgeAddress& address, std::uint64_t messageType,
                   kj::ArrayPtr<const capnp::word> payload);

// The canonical envelope of an M filled in by `fill(M::Builder)`.
template <typename M, typename Fill>
Bytes edgeMessage(const EdgeAddress& address, Fill fill) {
  capnp::MallocMessageBuilder message(kBuilderFirstSegmentWords);
  auto root = message.initRoot<M>();
  fill(root);
  return edgeEnvelope(address, capnp::typeId<M>(), canonicalOf(root.asReader()));
}

// The routing facts of an edge envelope, for Transport::publish().
Outbound edgeOutbound(const EdgeAddress& address, std::uint64_t messageType, Bytes envelope);

}  // namespace idem
