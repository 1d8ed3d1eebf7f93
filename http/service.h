// Service: an app's endpoints served as four-phase HTTP services (`idem gateway --service`,
// docs/http.md "Calling an idem endpoint as a service"). A caller PUTs a request under its own
// time-ordered id (the token, kept in ServiceTokens), POSTs it to run it once, GETs its outcome,
// and DELETEs it:
//
//   PUT|POST|GET|DELETE /v1/{endpoint}/{MessageType}/requests/{id}
//
// The first POST sends the stored message as an edge message whose id is derived from the
// route and {id}, so the endpoint's applied index runs the handler once however often POST is
// repeated or the gateway restarts; every outcome is re-derived from the endpoint's recorded
// version (RecordedRequests), never stored here.
#pragma once

#include <capnp/schema.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/app_routes.h"
#include "http/bearer_auth.h"
#include "http/http_message.h"
#include "http/recorded_request.h"
#include "http/service_tokens.h"
#include "idem/message_id.h"
#include "idem/transport.h"
#include "tools/apps.h"

namespace idem::http {

struct ServiceOptions {
  // The gateway's reply queue (its --name): the reply-to of every message sent, and the queue
  // whose outputs are the outcome. The tokens live in `workspace`/service/<replyQueue>.
  std::string replyQueue = "gateway";
  // How long a POST waits for its outcome before it is answered 202 + Location.
  std::chrono::milliseconds wait{5'000};
  // Requests whose id was created longer ago are refused (410 request-expired), and their
  // tokens and tombstones pruned. Keep it below the endpoints' historyHorizon.
  std::chrono::milliseconds maxCallAge{std::chrono::hours(24)};
  // Ids created further in the future are refused (400 invalid-request-id): an id from the far
  // future would never expire.
  std::chrono::milliseconds maxClockSkew{std::chrono::minutes(1)};
  // Bearer tokens accepted in Authorization (empty: no authentication required).
  BearerTokens bearerTokens;
};

// Not thread-safe: every member runs on the server's event loop. `app` and `bus` must outlive
// the service.
class Service {
 public:
  using Respond = std::function<void(HttpResponse)>;

  // Throws idem::Error (permanent) when replyQueue is an endpoint of the app.
  Service(const tools::App& app, const std::filesystem::path& workspace, Transport& bus,
          ServiceOptions options);
  ~Service();

  // True when `target`'s path has the shape /v1/{a}/{b}/requests/{c}: the service answers it.
  static bool serves(std::string_view target);
  // Answers `request` through `respond` (exactly once, on the event loop), at once or, for a
  // POST that sent its message, once the outcome is recorded or the wait ran out.
  void handle(const HttpRequest& request, Respond respond);
  // Answers the POSTs whose outcome was recorded or whose wait ran out; prunes tokens older
  // than maxCallAge once a minute. Call it every few milliseconds.
  void tick();

  ServiceTokenCounts stored() const { return tokens_.count(); }

 private:
  struct Waiter {
    std::chrono::steady_clock::time_point deadline;
    Respond respond;
  };
  struct Waiting {
    std::string endpoint;
    std::string location;  // the request's path, for a 202
    // When this process published the message: a POST within kSentMemory of it waits without
    // publishing again.
    std::chrono::steady_clock::time_point sentAt;
    std::vector<Waiter> waiters;
  };

  void put(const std::string& route, const Route& r, const MessageId& id,
           const HttpRequest& request, Respond& respond);
  void post(const std::string& route, const Route& r, const MessageId& id, Respond& respond);
  HttpResponse get(const std::string& route, const Route& r, const MessageId& id);
  HttpResponse remove(const std::string& route, const MessageId& id);
  HttpResponse outcome(const MessageId& callId, const RecordedRequest& recorded) const;
  HttpResponse accepted(const std::string& location) const;

  const tools::App& app_;
  Transport& bus_;
  ServiceOptions options_;
  ServiceTokens tokens_;
  std::size_t maxMessageBytes_;
  AppRoutes routes_;
  std::map<MessageId, Waiting> waiting_;  // by the message id sent
  std::chrono::steady_clock::time_point nextPrune_{};
};

// The id of the edge message sent for request `callId` on route /v1/{endpoint}/{messageType}:
// MessageId::forEdge("idem.http.service.v1 /v1/{endpoint}/{messageType}", callId as hex,
// callId.createdAt()), time-ordered by the caller's own millisecond.
MessageId serviceMessageId(std::string_view endpoint, std::string_view messageType,
                           const MessageId& callId);

}  // namespace idem::http
