// Handlers: the typed registration of an endpoint's handlers, one per message type, each for an
// entity type whose state is a Cap'n Proto struct.
//
//   idem::Handlers handlers("accounts");
//   handlers.entity<bank::Account>("account")
//       .on<bank::Deposit>({"deposit", 1},
//           [](bank::Deposit::Reader m) { return std::string(m.getAccountId()); },
//           [](bank::Account::Builder account, bank::Deposit::Reader m, idem::Context& ctx) {
//             account.setBalance(account.getBalance() + m.getAmount());
//             ctx.reply<bank::Deposited>().setAccountId(m.getAccountId());
//           });
//
// A handler must be deterministic: everything it reads comes from its state, its input and its
// Context. A handler that throws means "this attempt failed" (retried, then the error queue); a
// business "no" is a message it emits.
#pragma once

#include <capnp/any.h>
#include <capnp/schema.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "idem/canonical.h"
#include "idem/context.h"

namespace idem {

// Names the code that produced a version. Bump `version` whenever the handler's behaviour
// changes; every history entry records both.
struct HandlerSpec {
  std::string id;
  std::uint32_t version = 1;
};

namespace detail {

// A handler with its types erased, as the pipeline and the tools see it.
struct RegisteredHandler {
  HandlerSpec spec;
  std::string entityType;
  std::uint64_t messageType = 0;
  capnp::StructSchema stateSchema;
  capnp::StructSchema messageSchema;
  // The entity key the input addresses. May throw (the input is then permanently rejected).
  std::function<std::string(capnp::AnyStruct::Reader input)> keyOf;
  // Runs the handler on `state` (canonical bytes; empty = the initial state) and returns the
  // canonical new state.
  std::function<Words(kj::ArrayPtr<const capnp::word> state, capnp::AnyStruct::Reader input,
                      Context& context)>
      apply;
  // Registered with replayOnly(): re-runs versions it recorded, never receives new inputs.
  bool replayOnly = false;
};

template <typename State>
Words runOnState(kj::ArrayPtr<const capnp::word> state,
                 const std::function<void(typename State::Builder)>& body) {
  capnp::MallocMessageBuilder message(kBuilderFirstSegmentWords);
  if (state.size() == 0) {
    message.initRoot<State>();
  } else {
    kj::ArrayPtr<const capnp::word> segments[1] = {state};
    capnp::SegmentArrayMessageReader previous(segments);
    message.setRoot(previous.getRoot<State>());
  }
  body(message.getRoot<State>());
  return canonicalOf(message.getRoot<State>().asReader());
}

}  // namespace detail

template <typename State>
class EntityHandlers;

// The handlers of one endpoint. Move-only; handed to the Endpoint (and to the tools) by main().
class Handlers {
 public:
  explicit Handlers(std::string endpointName);

  const std::string& endpointName() const { return endpointName_; }

  // Starts registering handlers for the entity type named `entityType` with state `State`.
  template <typename State>
  EntityHandlers<State> entity(std::string entityType) {
    return EntityHandlers<State>(*this, std::move(entityType));
  }

  // The handler that new inputs of `messageType` go to, or nullptr when none is registered
  // (replay-only handlers are never returned).
  const detail::RegisteredHandler* findByMessageType(std::uint64_t messageType) const;
  // The handler registered with exactly this id and version (replay-only ones included), or
  // nullptr.
  const detail::RegisteredHandler* findBySpec(std::string_view id, std::uint32_t version) const;
  // Every registered handler, in registration order (replay-only ones included: check
  // RegisteredHandler::replayOnly where only the handlers of new inputs matter).
  const std::vector<std::unique_ptr<detail::RegisteredHandler>>& all() const { return handlers_; }

  // Declares M as a message type these handlers reply with or send, so that the tools can render
  // it (the HTTP gateway turns a reply into JSON through its schema). Idempotent.
  template <typename M>
  Handlers& emits() {
    return declareEmitted(capnp::Schema::from<M>());
  }
  Handlers& declareEmitted(capnp::StructSchema schema);
  // The schemas declared with emits(), in declaration order.
  const std::vector<capnp::StructSchema>& emitted() const { return emitted_; }

  // Registers a type-erased handler. Throws idem::Error (bug) when its id+version is already
  // registered, or when it is not replay-only and its message type already has a handler.
  void add(detail::RegisteredHandler handler);

 private:
  std::string endpointName_;
  std::vector<std::unique_ptr<detail::RegisteredHandler>> handlers_;
  std::map<std::uint64_t, const detail::RegisteredHandler*> byMessageType_;
  std::vector<capnp::StructSchema> emitted_;
};

template <typename State>
class EntityHandlers {
 public:
  EntityHandlers(Handlers& handlers, std::string entityType)
      : handlers_(handlers), entityType_(std::move(entityType)) {}

  // Registers `handle(State::Builder, M::Reader, Context&)` for messages of type M, addressed to
  // the entity whose key `keyOf(M::Reader)` returns.
  template <typename M, typename KeyOf, typename Handle>
  EntityHandlers& on(HandlerSpec spec, KeyOf keyOf, Handle handle) {
    return add<M>(std::move(spec), keyOf, handle, false);
  }

  // Registers a retired handler version for replay only: the versions it recorded (duplicates
  // owed to the transport, point-in-time loads, `idem audit`, what-if replays) are re-run with
  // it, while new inputs of type M go to the handler registered with on<M>(). Keep a retired
  // version registered this way while inputs it processed may still come back unpublished
  // (docs/operations.md, "Deploying a new handler version").
  template <typename M, typename KeyOf, typename Handle>
  EntityHandlers& replayOnly(HandlerSpec spec, KeyOf keyOf, Handle handle) {
    return add<M>(std::move(spec), keyOf, handle, true);
  }

 private:
  template <typename M, typename KeyOf, typename Handle>
  EntityHandlers& add(HandlerSpec spec, KeyOf keyOf, Handle handle, bool replayOnly) {
    detail::RegisteredHandler h;
    h.replayOnly = replayOnly;
    h.spec = std::move(spec);
    h.entityType = entityType_;
    h.messageType = capnp::typeId<M>();
    h.stateSchema = capnp::Schema::from<State>();
    h.messageSchema = capnp::Schema::from<M>();
    h.keyOf = [keyOf](capnp::AnyStruct::Reader input) { return std::string(keyOf(input.as<M>())); };
    h.apply = [handle](kj::ArrayPtr<const capnp::word> state, capnp::AnyStruct::Reader input,
                       Context& context) {
      return detail::runOnState<State>(
          state, [&](typename State::Builder s) { handle(s, input.as<M>(), context); });
    };
    handlers_.add(std::move(h));
    return *this;
  }

  Handlers& handlers_;
  std::string entityType_;
};

}  // namespace idem
