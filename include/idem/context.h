// Context: everything environmental a handler may use, all of it derived from the input and its
// recorded first-processing time, so that re-running the handler yields the same bytes.
#pragma once

#include <capnp/generated-header-support.h>
#include <capnp/message.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem {

namespace detail {
class Invocation;
}

// Handed to a handler for one run; valid only during that run. Not thread-safe.
class Context {
 public:
  explicit Context(detail::Invocation& invocation) : invocation_(invocation) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The time this endpoint recorded when it first processed the input (never the wall clock).
  TimePoint now() const;
  // A deterministic pseudo-random stream seeded from the input's id (docs/message-ids.md).
  std::uint64_t random();
  // A fresh id derived from the input: the n-th call returns the same id on every re-run.
  MessageId newId();

  const MessageId& messageId() const;      // the input's id
  const MessageId& correlationId() const;  // the conversation's id (the input's, at the edge)
  std::string_view entityKey() const;
  std::string_view endpointName() const;

  // Each returns the builder of a new outgoing message of type M, emitted in call order once the
  // handler returns normally, after its state change is durable. Output ids are derived from the
  // endpoint, the entity, the input's id and the output's index.
  template <typename M>
  typename M::Builder send(std::string_view destination) {
    return addOutput(capnp::typeId<M>(), destination, {}).template initRoot<M>();
  }
  // Like send(), delivered no earlier than now() + delay: timeouts and deadlines.
  template <typename M>
  typename M::Builder sendLater(std::string_view destination, std::chrono::nanoseconds delay) {
    return addOutput(capnp::typeId<M>(), destination, now() + delay).template initRoot<M>();
  }
  // To every endpoint subscribed to M.
  template <typename M>
  typename M::Builder publish() {
    return addOutput(capnp::typeId<M>(), {}, {}).template initRoot<M>();
  }
  // Whether reply() has somewhere to go: the input was emitted by an endpoint, or entered at the
  // edge with a reply-to (EdgeAddress::replyTo, as the HTTP gateway sends it).
  bool canReply() const;
  // To the endpoint that emitted the input (or the edge input's reply-to). Throws idem::Error
  // (permanent) when canReply() is false.
  template <typename M>
  typename M::Builder reply() {
    return addOutput(capnp::typeId<M>(), replyDestination(), {}).template initRoot<M>();
  }

 private:
  capnp::MessageBuilder& addOutput(std::uint64_t messageType, std::string_view destination,
                                   TimePoint deliverAt);
  std::string_view replyDestination() const;

  detail::Invocation& invocation_;
};

}  // namespace idem
