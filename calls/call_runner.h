// CallRunner: the side of the calls endpoint that talks HTTP. It takes the exchanges the calls
// endpoint asks for (queue idem::kCallsRunnerQueue, calls/caller_handlers.h), makes each one
// (PUT, POST or DELETE of {base URL of the service}{path}/requests/{call id}) and answers the
// calls endpoint with a CallExchangeResult once the exchange is final. At least once: a crash
// or a lost answer repeats an exchange, which the protocol makes harmless (every method is
// idempotent per id on the service), and the answer's id is derived from the exchange's, so a
// repeated answer is a duplicate to the calls endpoint.
//
// Final: a 2xx (POST: the outcome; a 202 "still running" is not final and is asked again), or
// a refusal (4xx other than 401, 403, 408 and 429). Everything else (no connection, 5xx, 401,
// 403, 408, 429) is retried with back-off, until the call is older than maxCallAge: then the
// exchange is answered "expired" (the service refuses such ids anyway; for DELETE it has pruned
// the request by then), and a PUT of such a call is never sent.
// An exchange naming a service without a URL goes to the queue's error queue.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "calls/http_client.h"
#include "idem/transport.h"

namespace idem::calls {

struct CallRunnerOptions {
  std::map<std::string, std::string> services;  // service name -> base URL (http://host:port)
  std::chrono::milliseconds requestTimeout{10'000};
  std::chrono::seconds maxCallAge{24 * 3600};  // as the service's --max-call-age-s
  std::size_t batch = 16;
  std::string bearerToken;  // sent as Authorization: Bearer when not empty
  HttpClientTls tls;        // for https: base URLs
  // Test seam: called with the method (PUT, POST, DELETE) once the service's answer to an
  // exchange is final, before the answer is recorded (settled); may kill the process.
  std::function<void(std::string_view method)> afterExchange;
};

class CallRunner {
 public:
  CallRunner(Transport& transport, CallRunnerOptions options);
  ~CallRunner();
  CallRunner(const CallRunner&) = delete;
  CallRunner& operator=(const CallRunner&) = delete;

  // Runs batches until `stop`; a transport that is unreachable is waited for.
  void run(std::stop_token stop);
  // Takes one batch (waiting up to `maxWait` for one) and settles it. Returns how many
  // exchanges it took. Throws what the transport throws.
  std::size_t runOnce(std::chrono::milliseconds maxWait);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "NAME=URL" (a --call-service flag). Throws idem::Error (permanent) naming it.
std::pair<std::string, std::string> parseServiceFlag(const std::string& text);

}  // namespace idem::calls
