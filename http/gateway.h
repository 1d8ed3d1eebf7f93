// Gateway: the idempotent HTTP ingress. POST /v1/{endpoint}/{MessageType} with an
// Idempotency-Key sends the JSON message into the pipeline once, as an edge message whose id is
// derived from the key and the route; a retry is answered from the endpoint's recorded version
// (its reply re-derived byte for byte), never executed again. Protocol: docs/http.md.
//
// The gateway keeps no store of its own: what was processed, with which body, and what it
// answered is read from the endpoints' stores (RecordedRequests); what it holds in memory (the
// requests in flight) only makes answers faster and gives 409 to a concurrent retry, and is
// safe to lose (kill -9): a retry after a restart re-sends the same id, which the endpoint
// deduplicates.
#pragma once

#include <capnp/schema.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/app_routes.h"
#include "http/bearer_auth.h"
#include "http/http_message.h"
#include "http/recorded_request.h"
#include "idem/message_id.h"
#include "idem/transport.h"
#include "tools/apps.h"

namespace idem::http {

struct GatewayOptions {
  // The gateway's reply queue: sent as every request's reply-to, received from by the gateway.
  // Must not be an endpoint of the app. Two gateways on one workspace need two names.
  std::string name = "gateway";
  // How long a first request waits for its outcome before it is answered 202 + Location.
  std::chrono::milliseconds wait{5'000};
  // How long a request answered 202 is remembered in memory (for 409 to a concurrent retry and a
  // fast GET); after that (or a restart) the endpoint's store alone answers.
  std::chrono::milliseconds inFlightMemory{std::chrono::minutes(10)};
  std::size_t maxInFlight = 100'000;  // beyond: 503 + Retry-After
  // Bearer tokens accepted in Authorization (empty: no authentication required).
  BearerTokens bearerTokens;
  // Runs a task on the event loop after what is already waiting there (HttpServer::post). Set,
  // the first requests accepted in one turn of the loop are published together, in one commit
  // of the bus (group commit); empty, each is published at once, in a commit of its own.
  std::function<void(std::function<void()>)> defer;
};

// A reply as the gateway's queue received it.
struct ArrivedReply {
  MessageId requestId;  // the reply's causation id
  std::uint64_t messageType = 0;
  Bytes payload;
};

// Decodes a reply envelope; nullopt when it is not a canonical envelope with a causation id.
std::optional<ArrivedReply> decodeReply(std::span<const std::byte> envelope);

// Not thread-safe: every member runs on the server's event loop (replies received on another
// thread are posted to it). `app` and `bus` must outlive the gateway.
class Gateway {
 public:
  using Respond = std::function<void(HttpResponse)>;

  // The endpoints' stores are read from `workspace`/stores/<endpoint> (tools/workspace.h).
  Gateway(const tools::App& app, const std::filesystem::path& workspace, Transport& bus,
          GatewayOptions options);
  ~Gateway();

  // Answers `request` through `respond`, at once or (a first POST) once its outcome is known or
  // the wait ran out. `respond` is called exactly once, on the event loop.
  void handle(const HttpRequest& request, Respond respond);
  // A reply the gateway's queue received.
  void replyArrived(ArrivedReply reply);
  // Checks the waiting requests against the stores and answers those whose wait ran out. Call
  // it every few milliseconds.
  void tick();

  // The largest body a POST may carry (the largest maxMessageBytes of the endpoints, 1 MiB).
  std::size_t maxBodyBytes() const { return maxBodyBytes_; }
  std::size_t inFlight() const { return inFlight_.size(); }

 private:
  struct InFlight {
    std::string endpoint;
    std::uint64_t messageType = 0;
    Bytes payload;
    std::chrono::steady_clock::time_point acceptedAt;
    std::chrono::steady_clock::time_point deadline;
    Respond waiter;  // empty once answered (202)
  };

  void post(const Route& route, const HttpRequest& request, Respond& respond);
  // Publishes the accepted first requests together; answers each 503 (or 500) if the bus
  // refuses them.
  void publishPending();
  HttpResponse get(std::string_view idHex);
  HttpResponse outcome(const MessageId& id, const RecordedRequest& recorded, bool replayed) const;
  HttpResponse replyResponse(const MessageId& id, std::uint64_t type, std::span<const std::byte>,
                             bool replayed) const;
  HttpResponse accepted(const MessageId& id) const;
  std::optional<RecordedRequest> findRecorded(const std::string& endpoint, const MessageId& id);

  const tools::App& app_;
  Transport& bus_;
  GatewayOptions options_;
  std::size_t maxBodyBytes_ = std::size_t{1} << 20;
  AppRoutes routes_;
  std::map<MessageId, InFlight> inFlight_;
  std::vector<Outbound> pending_;  // accepted, in inFlight_, not yet published
  std::vector<MessageId> pendingIds_;
  bool publishScheduled_ = false;
};

}  // namespace idem::http
