// AppRoutes: an app's routes, types and store readers for the HTTP boundary.
#include "http/app_routes.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "idem/error.h"
#include "tools/json_messages.h"
#include "tools/workspace.h"

namespace idem::http {

std::variant<Words, HttpResponse> messageOf(const Route& route, const HttpRequest& request) {
  if (const auto type = request.header("Content-Type");
      type && type->substr(0, 16) != "application/json") {
    return problem(415, "unsupported-media-type", "Unsupported Media Type",
                   "the body must be application/json");
  }
  try {
    return tools::canonicalFromJson(route.schema, request.body);
  } catch (const Error& e) {
    return problem(400, "invalid-message", "Bad Request", e.what());
  }
}

AppRoutes::AppRoutes(const tools::App& app, const std::filesystem::path& workspace,
                     std::string_view replyQueue) {
  const tools::Workspace ws{workspace};
  for (const tools::AppEndpoint& e : app.endpoints) {
    if (e.name == replyQueue) {
      fail(ErrorKind::kPermanent, "the gateway's name '" + std::string(replyQueue) +
                                      "' is an endpoint of app " + app.name + ": choose another");
    }
    const Handlers handlers = app.handlers(e.name);
    for (const auto& h : handlers.all()) {
      schemas_.emplace(h->messageSchema.getProto().getId(), h->messageSchema);
      if (h->replayOnly) continue;
      std::string typeName = h->messageSchema.getShortDisplayName().cStr();
      routes_.emplace(e.name + "/" + typeName, Route{e.name, typeName, h->messageSchema});
    }
    for (const capnp::StructSchema s : handlers.emitted()) {
      schemas_.emplace(s.getProto().getId(), s);
    }
    records_.emplace(e.name, std::make_unique<RecordedRequests>(ws.store(e.name), app, e.name));
  }
}

AppRoutes::~AppRoutes() = default;

const Route* AppRoutes::find(std::string_view endpointAndType) const {
  const auto it = routes_.find(endpointAndType);
  return it == routes_.end() ? nullptr : &it->second;
}

RenderedReply AppRoutes::render(std::uint64_t messageType,
                                std::span<const std::byte> payload) const {
  const auto schema = schemas_.find(messageType);
  if (schema != schemas_.end()) {
    return {schema->second.getShortDisplayName().cStr(),
            tools::jsonFromCanonical(schema->second, payload)};
  }
  char hex[19];
  std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(messageType));
  std::string payloadHex;
  for (std::byte b : payload) {
    static constexpr char kDigits[] = "0123456789abcdef";
    payloadHex += kDigits[std::to_integer<unsigned>(b) >> 4];
    payloadHex += kDigits[std::to_integer<unsigned>(b) & 15];
  }
  return {hex, nlohmann::json{{"messageType", hex}, {"payloadHex", payloadHex}}.dump()};
}

}  // namespace idem::http
