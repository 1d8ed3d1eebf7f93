// HttpRequest and HttpResponse: the HTTP exchange as plain values, so that the gateway's logic
// never sees Beast (http/http_server.h owns the wire), and problem(): every error answered as
// an RFC 9457 problem document (application/problem+json).
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace idem::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the path and query as sent, e.g. "/v1/transfers/StartTransfer"
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string body;
  std::string peer;  // "127.0.0.1:53412", for the log

  // The value of the first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type included
  std::string body;
  bool closeConnection = false;  // after a request the server could not frame, or refused

  HttpResponse& with(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// The problem document {"type","title","status","detail"} with status `status`. `type` is a
// short name resolved against "https://idem.dev/problems/" (docs/http.md lists them), e.g.
// "missing-idempotency-key".
HttpResponse problem(int status, std::string_view type, std::string_view title,
                     std::string_view detail);

// The problem answering a request that failed with `failure`: 503 "unavailable" with
// Retry-After for an idem::Error that trying again may cure (transient, overloaded), else 500
// "internal-error"; the detail is the error's text.
HttpResponse failureProblem(const std::exception& failure);

}  // namespace idem::http
