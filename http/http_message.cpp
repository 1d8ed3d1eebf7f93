// HttpRequest's header lookup and the problem documents.
#include "http/http_message.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "idem/error.h"

namespace idem::http {

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [n, value] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return value;
    }
  }
  return std::nullopt;
}

HttpResponse problem(int status, std::string_view type, std::string_view title,
                     std::string_view detail) {
  const nlohmann::json document = {{"type", "https://idem.dev/problems/" + std::string(type)},
                                   {"title", title},
                                   {"status", status},
                                   {"detail", detail}};
  HttpResponse response;
  response.status = status;
  response.with("Content-Type", "application/problem+json");
  // Invalid UTF-8 from a request (echoed in a detail) is replaced, never thrown on.
  response.body = document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse failureProblem(const std::exception& failure) {
  const auto* error = dynamic_cast<const Error*>(&failure);
  const bool retry = error != nullptr && (error->kind() == ErrorKind::kTransient ||
                                          error->kind() == ErrorKind::kOverloaded);
  if (!retry) return problem(500, "internal-error", "Internal Server Error", failure.what());
  return problem(503, "unavailable", "Service Unavailable", failure.what())
      .with("Retry-After", "1");
}

}  // namespace idem::http
