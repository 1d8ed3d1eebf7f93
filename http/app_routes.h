// AppRoutes: what the HTTP boundary (the gateway and the service) knows of an app: the route
// "endpoint/Type" of every message its endpoints handle, every type they handle or emit (to
// render a reply as JSON), and a reader of each endpoint's store (RecordedRequests).
#pragma once

#include <capnp/schema.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "http/http_message.h"
#include "http/recorded_request.h"
#include "idem/canonical.h"
#include "tools/apps.h"

namespace idem::http {

struct Route {
  std::string endpoint;
  std::string typeName;  // the message type's short name, as in the path
  capnp::StructSchema schema;
};

// A reply as an HTTP body: its type's name (for Idem-Reply-Type) and its JSON.
struct RenderedReply {
  std::string typeName;
  std::string json;
};

// The request's body as the canonical message of `route`, or the problem to answer when it is
// not one: 415 unsupported-media-type (a Content-Type other than application/json), 400
// invalid-message (the JSON mapping's error, in the message's terms).
std::variant<Words, HttpResponse> messageOf(const Route& route, const HttpRequest& request);

class AppRoutes {
 public:
  // The endpoints' stores are read from `workspace`/stores/<endpoint>. Throws idem::Error
  // (permanent) when `replyQueue` (the boundary's own queue) is an endpoint of the app.
  AppRoutes(const tools::App& app, const std::filesystem::path& workspace,
            std::string_view replyQueue);
  ~AppRoutes();
  AppRoutes(const AppRoutes&) = delete;
  AppRoutes& operator=(const AppRoutes&) = delete;

  // The route "endpoint/Type", or nullptr.
  const Route* find(std::string_view endpointAndType) const;
  // The store reader of one of the app's endpoints (`endpoint` must be one).
  RecordedRequests& records(const std::string& endpoint) { return *records_.at(endpoint); }
  const std::map<std::string, std::unique_ptr<RecordedRequests>, std::less<>>& allRecords() {
    return records_;
  }
  // A reply of type `messageType` in its JSON mapping; a type nobody declared
  // (Handlers::emits) as {"messageType": "0x…", "payloadHex": "…"}: its bytes, still
  // deterministic.
  RenderedReply render(std::uint64_t messageType, std::span<const std::byte> payload) const;

 private:
  std::map<std::string, Route, std::less<>> routes_;      // "endpoint/Type"
  std::map<std::uint64_t, capnp::StructSchema> schemas_;  // every type the app handles or emits
  std::map<std::string, std::unique_ptr<RecordedRequests>, std::less<>> records_;  // by endpoint
};

}  // namespace idem::http
