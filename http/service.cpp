// Service: the four-phase routes and their answers (docs/http.md, "Calling an idem endpoint as a
// service").
#include "http/service.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "idem/edge.h"
#include "idem/endpoint.h"
#include "idem/error.h"

namespace idem::http {

namespace {

constexpr std::string_view kPrefix = "/v1/";
constexpr std::string_view kRequests = "requests";
constexpr auto kSentMemory = std::chrono::minutes(10);
constexpr auto kPruneEvery = std::chrono::minutes(1);

struct ServicePath {
  std::string_view endpoint, type, id;
};

// "/v1/{endpoint}/{type}/requests/{id}" (query ignored), or nullopt.
std::optional<ServicePath> parsePath(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  path.remove_prefix(kPrefix.size());
  std::string_view parts[4];
  for (int i = 0; i < 4; ++i) {
    const auto slash = path.find('/');
    if ((i < 3) == (slash == std::string_view::npos)) return std::nullopt;
    parts[i] = path.substr(0, slash);
    if (parts[i].empty()) return std::nullopt;
    path = i < 3 ? path.substr(slash + 1) : std::string_view();
  }
  if (parts[2] != kRequests) return std::nullopt;
  return ServicePath{parts[0], parts[1], parts[3]};
}

bool equalBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

Words wordsOf(std::span<const std::byte> bytes) {
  Words words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), words.size() * sizeof(capnp::word));
  return words;
}

std::string locationOf(std::string_view route, const MessageId& id) {
  return std::string(kPrefix) + std::string(route) + "/requests/" + id.toHex();
}

}  // namespace

MessageId serviceMessageId(std::string_view endpoint, std::string_view messageType,
                           const MessageId& callId) {
  return MessageId::forEdge(
      "idem.http.service.v1 /v1/" + std::string(endpoint) + "/" + std::string(messageType),
      callId.toHex(), callId.createdAt());
}

Service::Service(const tools::App& app, const std::filesystem::path& workspace, Transport& bus,
                 ServiceOptions options)
    : app_(app),
      bus_(bus),
      options_(std::move(options)),
      tokens_(workspace / "service" / options_.replyQueue),
      maxMessageBytes_(EndpointOptions{}.maxMessageBytes),
      routes_(app, workspace, options_.replyQueue) {}

Service::~Service() = default;

bool Service::serves(std::string_view target) { return parsePath(target).has_value(); }

void Service::handle(const HttpRequest& request, Respond respond) {
  try {
    if (auto refused = refuseUnauthorized(request, options_.bearerTokens)) {
      return respond(std::move(*refused));
    }
    const std::optional<ServicePath> path = parsePath(request.target);
    if (!path) return respond(problem(404, "unknown-route", "Not Found", "not a service route"));
    const std::string route = std::string(path->endpoint) + "/" + std::string(path->type);
    const Route* found = routes_.find(route);
    if (found == nullptr) {
      return respond(problem(404, "unknown-route", "Not Found",
                             "no endpoint of app " + app_.name + " handles /v1/" + route));
    }
    const std::optional<MessageId> id = MessageId::fromHex(path->id);
    const auto now = std::chrono::system_clock::now();
    if (!id || id->createdAt() > now + options_.maxClockSkew) {
      return respond(problem(400, "invalid-request-id", "Bad Request",
                             "a request id is 32 hex digits starting with its creation time in "
                             "milliseconds (docs/message-ids.md), not in the future"));
    }
    if (id->createdAt() < now - options_.maxCallAge) {
      return respond(
          problem(410, "request-expired", "Gone",
                  "request " + id->toHex() + " is older than the service's maxCallAge (" +
                      std::to_string(options_.maxCallAge.count()) +
                      " ms): it is neither stored nor executed; a caller gives such a call up"));
    }
    if (request.method == "PUT") return put(route, *found, *id, request, respond);
    if (request.method == "POST") return post(route, *found, *id, respond);
    if (request.method == "GET") return respond(get(route, *found, *id));
    if (request.method == "DELETE") return respond(remove(route, *id));
    respond(problem(405, "method-not-allowed", "Method Not Allowed",
                    "a service request takes PUT, POST, GET and DELETE")
                .with("Allow", "PUT, POST, GET, DELETE"));
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", request.method, request.target, e.what());
    respond(failureProblem(e));
  }
}

void Service::put(const std::string& route, const Route& r, const MessageId& id,
                  const HttpRequest& request, Respond& respond) {
  std::variant<Words, HttpResponse> parsed = messageOf(r, request);
  if (auto* refused = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*refused));
  const Words payload = std::move(std::get<Words>(parsed));
  const MessageId messageId = serviceMessageId(r.endpoint, r.typeName, id);
  const EdgeAddress address{messageId, r.endpoint, {}, {}, options_.replyQueue};
  const std::uint64_t typeId = r.schema.getProto().getId();
  if (const std::size_t size = edgeEnvelope(address, typeId, payload).size();
      size > maxMessageBytes_) {
    return respond(problem(413, "message-too-large", "Content Too Large",
                           "the message is " + std::to_string(size) +
                               " bytes as an envelope; the endpoint takes at most " +
                               std::to_string(maxMessageBytes_)));
  }
  const std::span<const std::byte> bytes = asBytes(payload);
  ServiceToken token = tokens_.find(route, id);
  if (token.state == ServiceToken::State::kDeleted) {
    return respond(problem(410, "request-deleted", "Gone",
                           "request " + id.toHex() +
                               " was deleted; its id is not accepted again. It is not executed."));
  }
  bool created = false;
  if (token.state == ServiceToken::State::kAbsent) {
    created = tokens_.put(route, id, bytes);
    if (!created) token = tokens_.find(route, id);  // another process put it meanwhile
  }
  if (!created && !equalBytes(token.payload, bytes)) {
    return respond(problem(409, "request-conflict", "Conflict",
                           "request " + id.toHex() + " was PUT with another body"));
  }
  HttpResponse ok;
  ok.status = created ? 201 : 200;
  ok.with("Location", locationOf(route, id));
  ok.with("Idem-Message-Id", messageId.toHex());
  respond(std::move(ok));
}

void Service::post(const std::string& route, const Route& r, const MessageId& id,
                   Respond& respond) {
  const ServiceToken token = tokens_.find(route, id);
  if (token.state == ServiceToken::State::kDeleted) {
    return respond(problem(410, "request-deleted", "Gone",
                           "request " + id.toHex() + " was deleted; it is not executed again"));
  }
  if (token.state == ServiceToken::State::kAbsent) {
    return respond(problem(409, "request-not-put", "Conflict",
                           "request " + id.toHex() + " has not been PUT: PUT it first"));
  }
  const MessageId messageId = serviceMessageId(r.endpoint, r.typeName, id);
  if (const auto recorded = routes_.records(r.endpoint).find(messageId, options_.replyQueue)) {
    if (token.state == ServiceToken::State::kPut) tokens_.markPosted(route, id, token.payload);
    return respond(outcome(messageId, *recorded));
  }
  const auto now = std::chrono::steady_clock::now();
  auto waiting = waiting_.find(messageId);
  if (waiting == waiting_.end()) {
    // 1. Publish (again, after a restart: the same id, which the endpoint deduplicates) ...
    const Words payload = wordsOf(token.payload);
    const std::uint64_t typeId = r.schema.getProto().getId();
    const EdgeAddress address{
        messageId, r.endpoint, std::chrono::system_clock::now(), {}, options_.replyQueue};
    Outbound message = edgeOutbound(address, typeId, edgeEnvelope(address, typeId, payload));
    try {
      bus_.publish(std::span(&message, 1));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kOverloaded) throw;
      return respond(
          problem(503, "overloaded", "Service Unavailable", e.what()).with("Retry-After", "1"));
    }
    // 2. ... then mark the token consumed: a crash between the two leaves it put, and the next
    //    POST publishes the same id again.
    if (token.state == ServiceToken::State::kPut) tokens_.markPosted(route, id, token.payload);
    waiting =
        waiting_.emplace(messageId, Waiting{r.endpoint, locationOf(route, id), now, {}}).first;
  }
  waiting->second.waiters.push_back(Waiter{now + options_.wait, std::move(respond)});
}

HttpResponse Service::get(const std::string& route, const Route& r, const MessageId& id) {
  const ServiceToken token = tokens_.find(route, id);
  if (token.state == ServiceToken::State::kDeleted) {
    return problem(410, "request-deleted", "Gone", "request " + id.toHex() + " was deleted");
  }
  if (token.state == ServiceToken::State::kAbsent) {
    return problem(404, "unknown-request", "Not Found",
                   "no request " + id.toHex() + " was PUT on /v1/" + route);
  }
  const MessageId messageId = serviceMessageId(r.endpoint, r.typeName, id);
  if (const auto recorded = routes_.records(r.endpoint).find(messageId, options_.replyQueue)) {
    return outcome(messageId, *recorded);
  }
  if (token.state == ServiceToken::State::kPut) {
    return problem(409, "request-not-posted", "Conflict",
                   "request " + id.toHex() + " is stored but was not POSTed: POST it to run it");
  }
  return accepted(locationOf(route, id));
}

HttpResponse Service::remove(const std::string& route, const MessageId& id) {
  const ServiceToken token = tokens_.find(route, id);
  if (token.state == ServiceToken::State::kAbsent) {
    return problem(404, "unknown-request", "Not Found",
                   "no request " + id.toHex() + " was PUT on /v1/" + route);
  }
  if (token.state != ServiceToken::State::kDeleted) tokens_.remove(route, id);
  HttpResponse r;
  r.status = 204;
  return r;
}

void Service::tick() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    Waiting& w = it->second;
    if (w.waiters.empty()) {
      it = now - w.sentAt > kSentMemory ? waiting_.erase(it) : std::next(it);
      continue;
    }
    std::optional<RecordedRequest> recorded;
    try {
      recorded = routes_.records(w.endpoint).find(it->first, options_.replyQueue);
    } catch (const std::exception& e) {
      spdlog::warn("cannot read the store of {}: {}", w.endpoint, e.what());
    }
    std::vector<Waiter> answer;
    if (recorded) {
      answer = std::move(w.waiters);
      w.waiters.clear();
    } else {
      std::erase_if(w.waiters, [&](Waiter& waiter) {
        if (now < waiter.deadline) return false;
        answer.push_back(std::move(waiter));
        return true;
      });
    }
    const HttpResponse response = recorded ? outcome(it->first, *recorded) : accepted(w.location);
    it = recorded ? waiting_.erase(it) : std::next(it);
    for (Waiter& waiter : answer) waiter.respond(response);
  }
  if (now >= nextPrune_) {
    nextPrune_ = now + kPruneEvery;
    try {
      if (const std::size_t n =
              tokens_.prune(std::chrono::system_clock::now(), options_.maxCallAge)) {
        spdlog::info("pruned {} service requests and tombstones older than maxCallAge", n);
      }
    } catch (const std::exception& e) {
      spdlog::warn("pruning service requests: {}", e.what());
    }
  }
}

HttpResponse Service::outcome(const MessageId& messageId, const RecordedRequest& recorded) const {
  if (!recorded.historyKept) {
    return problem(410, "response-expired", "Gone",
                   "the request was processed (" + recorded.entity + " version " +
                       std::to_string(recorded.version) +
                       "); retention removed its history. It is not executed again.")
        .with("Idem-Message-Id", messageId.toHex());
  }
  HttpResponse r;
  r.status = 200;  // the business outcome: its own status is Idem-Outcome-Status
  r.with("Idem-Message-Id", messageId.toHex());
  if (!recorded.reply) return r.with("Idem-Outcome-Status", "204");
  r.with("Idem-Outcome-Status", "200");
  r.with("Content-Type", "application/json");
  RenderedReply reply = routes_.render(recorded.reply->messageType, recorded.reply->payload);
  r.with("Idem-Reply-Type", std::move(reply.typeName));
  r.body = std::move(reply.json);
  return r;
}

HttpResponse Service::accepted(const std::string& location) const {
  HttpResponse r;
  r.status = 202;
  r.with("Content-Type", "application/json");
  r.with("Location", location);
  r.with("Retry-After", "1");
  r.body = nlohmann::json{{"status", "posted"}}.dump();
  return r;
}

}  // namespace idem::http
