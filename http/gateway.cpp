// Gateway: routes, the Idempotency-Key rules and the answers (docs/http.md, "The ingress").
#include "http/gateway.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "http/idempotency_key.h"
#include "idem/edge.h"
#include "idem/endpoint.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"

namespace idem::http {

namespace {

constexpr std::string_view kPostPrefix = "/v1/";
constexpr std::string_view kRequestsPrefix = "/v1/requests/";

bool equalBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

std::optional<ArrivedReply> decodeReply(std::span<const std::byte> envelopeBytes) {
  try {
    CanonicalReader reader(envelopeBytes, "reply envelope");
    auto envelope = reader.root<wire::Envelope>();
    auto causation = envelope.getCausationId();
    auto id = MessageId::fromBytes({causation.begin(), causation.size()});
    if (!id) return std::nullopt;
    const auto payload = envelope.getPayload();
    const auto* p = reinterpret_cast<const std::byte*>(payload.begin());
    return ArrivedReply{*id, envelope.getMessageType(), Bytes(p, p + payload.size())};
  } catch (const std::exception&) {  // not ours to judge: acked and ignored by the caller
    return std::nullopt;
  }
}

Gateway::Gateway(const tools::App& app, const std::filesystem::path& workspace, Transport& bus,
                 GatewayOptions options)
    : app_(app),
      bus_(bus),
      options_(std::move(options)),
      maxBodyBytes_(EndpointOptions{}.maxMessageBytes),
      routes_(app, workspace, options_.name) {}

Gateway::~Gateway() = default;

void Gateway::handle(const HttpRequest& request, Respond respond) {
  try {
    if (auto refused = refuseUnauthorized(request, options_.bearerTokens)) {
      return respond(std::move(*refused));
    }
    const std::string_view path = pathOf(request.target);
    if (path.substr(0, kRequestsPrefix.size()) == kRequestsPrefix) {
      if (request.method != "GET") {
        return respond(
            problem(405, "method-not-allowed", "Method Not Allowed", "requests are read with GET")
                .with("Allow", "GET"));
      }
      return respond(get(path.substr(kRequestsPrefix.size())));
    }
    if (path.substr(0, kPostPrefix.size()) == kPostPrefix) {
      const Route* route = routes_.find(path.substr(kPostPrefix.size()));
      if (route == nullptr) {
        return respond(problem(404, "unknown-route", "Not Found",
                               "no endpoint of app " + app_.name + " handles " + std::string(path) +
                                   " (POST /v1/{endpoint}/{MessageType})"));
      }
      if (request.method != "POST") {
        return respond(
            problem(405, "method-not-allowed", "Method Not Allowed", "messages are sent with POST")
                .with("Allow", "POST"));
      }
      return post(*route, request, respond);
    }
    respond(problem(404, "unknown-route", "Not Found",
                    "no route " + std::string(path) + " (docs/http.md lists them)"));
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", request.method, request.target, e.what());
    respond(failureProblem(e));
  }
}

void Gateway::post(const Route& route, const HttpRequest& request, Respond& respond) {
  const std::optional<std::string_view> keyHeader = request.header("Idempotency-Key");
  if (!keyHeader) {
    return respond(problem(400, "missing-idempotency-key", "Bad Request",
                           "POST needs an Idempotency-Key header (a structured-field string, "
                           "e.g. Idempotency-Key: \"8e03978e-40d5\")"));
  }
  const std::optional<std::string> key = parseIdempotencyKey(*keyHeader);
  if (!key) {
    return respond(
        problem(400, "invalid-idempotency-key", "Bad Request",
                "the Idempotency-Key is not a structured-field string or token of 1 to " +
                    std::to_string(kMaxIdempotencyKeyBytes) + " printable characters"));
  }
  std::variant<Words, HttpResponse> parsed = messageOf(route, request);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*refused));
  const Words payload = std::move(std::get<Words>(parsed));
  const std::span<const std::byte> payloadBytes = asBytes(payload);
  const MessageId id = requestId(route.endpoint, route.typeName, *key);
  const std::uint64_t typeId = route.schema.getProto().getId();

  // 1. The endpoint's store first: a request it applied is answered from there, whatever this
  //    process remembers (and however often it restarted).
  if (const auto recorded = findRecorded(route.endpoint, id)) {
    if (const auto it = inFlight_.find(id); it != inFlight_.end()) {
      Respond waiter = std::move(it->second.waiter);  // the first request, still waiting
      inFlight_.erase(it);
      if (waiter) waiter(outcome(id, *recorded, false));
    }
    if (recorded->historyKept &&
        (recorded->messageType != typeId || !equalBytes(recorded->payload, payloadBytes))) {
      return respond(problem(422, "idempotency-key-reused", "Unprocessable Content",
                             "Idempotency-Key was used for another request body on this route"));
    }
    return respond(outcome(id, *recorded, true));
  }
  // 2. In flight from this process: 409 to a retry, 422 to another body under the same key.
  if (const auto it = inFlight_.find(id); it != inFlight_.end()) {
    if (!equalBytes(it->second.payload, payloadBytes)) {
      return respond(problem(422, "idempotency-key-reused", "Unprocessable Content",
                             "Idempotency-Key was used for another request body on this route"));
    }
    return respond(problem(409, "request-in-progress", "Conflict",
                           "the first request with this Idempotency-Key is still being processed")
                       .with("Retry-After", "1")
                       .with("Location", std::string(kRequestsPrefix) + id.toHex()));
  }
  if (inFlight_.size() >= options_.maxInFlight) {
    return respond(
        problem(503, "too-many-requests-in-flight", "Service Unavailable",
                "the gateway holds " + std::to_string(inFlight_.size()) + " requests in flight")
            .with("Retry-After", "1"));
  }
  // 3. New here: send it. A copy sent before a restart has the same id: the endpoint applies one.
  const EdgeAddress address{
      id, route.endpoint, std::chrono::system_clock::now(), {}, options_.name};
  Outbound message = edgeOutbound(address, typeId, edgeEnvelope(address, typeId, payload));
  if (message.envelope.size() > maxBodyBytes_) {
    return respond(problem(413, "message-too-large", "Content Too Large",
                           "the message is " + std::to_string(message.envelope.size()) +
                               " bytes as an envelope; the endpoint takes at most " +
                               std::to_string(maxBodyBytes_)));
  }
  const auto now = std::chrono::steady_clock::now();
  inFlight_[id] = InFlight{route.endpoint,
                           typeId,
                           Bytes(payloadBytes.begin(), payloadBytes.end()),
                           now,
                           now + options_.wait,
                           std::move(respond)};
  pending_.push_back(std::move(message));
  pendingIds_.push_back(id);
  if (!options_.defer) return publishPending();
  if (!publishScheduled_) {
    publishScheduled_ = true;
    options_.defer([this] { publishPending(); });
  }
}

void Gateway::publishPending() {
  publishScheduled_ = false;
  if (pending_.empty()) return;
  std::vector<Outbound> messages = std::move(pending_);
  std::vector<MessageId> ids = std::move(pendingIds_);
  pending_.clear();
  pendingIds_.clear();
  std::optional<HttpResponse> refused;
  try {
    bus_.publish(messages);
    return;
  } catch (const std::exception& e) {
    spdlog::error("publishing {} requests: {}", messages.size(), e.what());
    refused = failureProblem(e);
  }
  // Refused: nothing of them was sent, so they are forgotten and a retry sends them again.
  for (const MessageId& id : ids) {
    const auto it = inFlight_.find(id);
    if (it == inFlight_.end()) continue;
    Respond waiter = std::move(it->second.waiter);
    inFlight_.erase(it);
    if (waiter) waiter(*refused);
  }
}

void Gateway::replyArrived(ArrivedReply reply) {
  const auto it = inFlight_.find(reply.requestId);
  if (it == inFlight_.end()) return;  // sent by an earlier process, or answered from the store
  Respond waiter = std::move(it->second.waiter);
  inFlight_.erase(it);
  if (waiter) waiter(replyResponse(reply.requestId, reply.messageType, reply.payload, false));
}

void Gateway::tick() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = inFlight_.begin(); it != inFlight_.end();) {
    InFlight& f = it->second;
    if (!f.waiter) {
      it = now - f.acceptedAt > options_.inFlightMemory ? inFlight_.erase(it) : std::next(it);
      continue;
    }
    std::optional<RecordedRequest> recorded;
    try {
      recorded = findRecorded(f.endpoint, it->first);
    } catch (const std::exception& e) {
      spdlog::warn("cannot read the store of {}: {}", f.endpoint, e.what());
    }
    if (recorded) {
      Respond waiter = std::move(f.waiter);
      const MessageId id = it->first;
      it = inFlight_.erase(it);
      waiter(outcome(id, *recorded, false));
      continue;
    }
    if (now >= f.deadline) {
      Respond waiter = std::move(f.waiter);
      waiter(accepted(it->first));
    }
    ++it;
  }
}

HttpResponse Gateway::get(std::string_view idHex) {
  const std::optional<MessageId> id = MessageId::fromHex(idHex);
  if (!id) {
    return problem(404, "unknown-request", "Not Found", "a request id is 32 hex digits");
  }
  const auto it = inFlight_.find(*id);
  if (it != inFlight_.end()) {
    if (auto recorded = findRecorded(it->second.endpoint, *id))
      return outcome(*id, *recorded, false);
    return accepted(*id);
  }
  for (const auto& [endpoint, records] : routes_.allRecords()) {
    if (auto recorded = records->find(*id, options_.name)) return outcome(*id, *recorded, false);
  }
  return problem(
      404, "unknown-request", "Not Found",
      "no endpoint has processed request " + id->toHex() +
          " (not yet, or never sent): POST it again with its Idempotency-Key to be sure");
}

std::optional<RecordedRequest> Gateway::findRecorded(const std::string& endpoint,
                                                     const MessageId& id) {
  return routes_.records(endpoint).find(id, options_.name);
}

HttpResponse Gateway::outcome(const MessageId& id, const RecordedRequest& recorded,
                              bool replayed) const {
  if (!recorded.historyKept) {
    HttpResponse r =
        problem(410, "response-expired", "Gone",
                "request " + id.toHex() + " was processed (" + recorded.entity + " version " +
                    std::to_string(recorded.version) +
                    "); retention removed its history, so its response can no longer be "
                    "derived. It is not executed again.");
    r.with("Idem-Message-Id", id.toHex());
    if (replayed) r.with("Idempotent-Replayed", "true");
    return r;
  }
  if (recorded.reply) {
    return replyResponse(id, recorded.reply->messageType, recorded.reply->payload, replayed);
  }
  HttpResponse r;
  r.status = 204;  // processed; the handler sent no reply
  r.with("Idem-Message-Id", id.toHex());
  if (replayed) r.with("Idempotent-Replayed", "true");
  return r;
}

HttpResponse Gateway::replyResponse(const MessageId& id, std::uint64_t type,
                                    std::span<const std::byte> payload, bool replayed) const {
  HttpResponse r;
  r.status = 200;
  r.with("Content-Type", "application/json");
  r.with("Idem-Message-Id", id.toHex());
  RenderedReply reply = routes_.render(type, payload);
  r.with("Idem-Reply-Type", std::move(reply.typeName));
  r.body = std::move(reply.json);
  if (replayed) r.with("Idempotent-Replayed", "true");
  return r;
}

HttpResponse Gateway::accepted(const MessageId& id) const {
  HttpResponse r;
  r.status = 202;
  r.with("Content-Type", "application/json");
  r.with("Idem-Message-Id", id.toHex());
  r.with("Location", std::string(kRequestsPrefix) + id.toHex());
  r.with("Retry-After", "1");
  r.body = nlohmann::json{{"id", id.toHex()}, {"status", "accepted"}}.dump();
  return r;
}

}  // namespace idem::http
