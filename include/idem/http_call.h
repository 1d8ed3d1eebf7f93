// Exactly-once HTTP calls from handlers: the caller half of the four-phase protocol
// (docs/http.md, "Calling a service from a handler").
//
//   // in a handler: ask for the call; it is made after this run's version is durable
//   auto call = idem::call(ctx, "provider", "/v1/provider/Charge", "charge");
//   call.setBody(kj::StringPtr(R"({"orderId":"o1","amount":500})").asBytes());
//
//   // register what the calling entity does with the outcome
//   idem::onCallResult(handlers.entity<Order>("order"), {"orders.charged", 1},
//       [](Order::Builder order, idem::wire::HttpCallResult::Reader r, idem::Context& ctx) {...});
//
// The framework's endpoint kCallsEndpoint (registerCallerHandlers(), calls/caller_handlers.h)
// records each call as an entity of its own and the call runner (calls/call_runner.h) makes
// the PUT, POST and DELETE; the service runs the request at most once however often any of
// them is repeated, and the calling entity receives exactly one HttpCallResult.
#pragma once

#include <string_view>
#include <utility>

#include "idem/context.h"
#include "idem/handlers.h"
#include "idem/http_call.capnp.h"

namespace idem {

// The endpoint that records calls, and the queue its runner takes the HTTP exchanges from.
inline constexpr std::string_view kCallsEndpoint = "http-calls";
inline constexpr std::string_view kCallsRunnerQueue = "http-calls-out";

// Asks for a call to `path` on `service` (a name the runner maps to a base URL) as an output
// of this run: it fills in the call's id (ctx.newId()), the calling endpoint and entity, and
// `tag`, and returns the request for the handler to give a body (and a content type). The
// outcome comes back to this entity as an HttpCallResult with the same id and tag.
wire::HttpCall::Builder call(Context& ctx, std::string_view service, std::string_view path,
                             std::string_view tag = {});

// Registers `handle(State::Builder, HttpCallResult::Reader, Context&)` for the results of the
// calls this entity type asks for, keyed by the result's entityKey. After `handle` it emits the
// HttpCallDone that lets the service forget the request, so that the request is deleted only
// once the result is committed. One endpoint has one such registration (one handler per type).
template <typename State, typename Handle>
EntityHandlers<State>& onCallResult(EntityHandlers<State>& entity, HandlerSpec spec,
                                    Handle handle) {
  return entity.template on<wire::HttpCallResult>(
      std::move(spec), [](wire::HttpCallResult::Reader r) { return r.getEntityKey(); },
      [handle](typename State::Builder state, wire::HttpCallResult::Reader result, Context& ctx) {
        handle(state, result, ctx);
        ctx.send<wire::HttpCallDone>(kCallsEndpoint).setCallId(result.getCallId());
      });
}
template <typename State, typename Handle>
EntityHandlers<State> onCallResult(EntityHandlers<State>&& entity, HandlerSpec spec,
                                   Handle handle) {
  onCallResult(entity, std::move(spec), std::move(handle));
  return std::move(entity);
}

}  // namespace idem
