// AdminServer: a small HTTP/1.1 listener for operators and orchestrators (Prometheus scrapes,
// liveness and readiness probes). One thread, one connection at a time, GET only; what each path
// answers is the caller's `route`. Not for application traffic (that is http/'s gateway).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace idem::admin {

struct AdminResponse {
  unsigned status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

// Answers GET `path` (the request target without its query). Called on the listener's thread;
// it must be thread-safe with respect to whatever else it reads. Unknown paths are the route's
// to answer (404); AdminServer itself answers 405 to methods other than GET and HEAD, and 500
// with the text of whatever the route throws.
using AdminRoute = std::function<AdminResponse(std::string_view path)>;

class AdminServer {
 public:
  // Listens on `address` ("HOST:PORT"; PORT 0 picks a free one, see port()) and serves from a
  // thread of its own until destroyed. Throws idem::Error (permanent) naming the address when it
  // is malformed or cannot be bound.
  AdminServer(std::string_view address, AdminRoute route);
  // Stops listening and joins the thread (a request being answered is finished first).
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The port bound (the one chosen when the address asked for 0).
  std::uint16_t port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::admin
