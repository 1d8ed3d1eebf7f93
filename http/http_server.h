// HttpServer: an HTTP/1.1 server (Boost.Beast over Asio, one event-loop thread) that frames
// requests within bounds a stranger cannot exceed, hands each to a handler as an HttpRequest
// and writes the HttpResponse the handler gives back, possibly later. Every request it cannot
// frame gets a 4xx problem document and the connection is closed; nothing else is spent on it.
// With TlsFiles it speaks HTTPS only (a failed handshake closes the connection, logged at debug).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/http_message.h"

namespace idem::http {

// PEM files of the server's TLS identity (http/tls_context.h checks them at construction).
struct TlsFiles {
  std::string certificateFile;  // the certificate chain, leaf first
  std::string keyFile;          // its private key (unencrypted)
  std::string clientCaFile;     // when set: clients must present a certificate this CA signed
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";                   // loopback unless told otherwise
  std::uint16_t port = 0;                           // 0: any free port (see HttpServer::port())
  std::size_t maxBodyBytes = std::size_t{1} << 20;  // larger: 413
  std::size_t maxHeaderBytes = 16 * 1024;           // request line and headers together: 431
  std::size_t maxHeaderCount = 64;                  // more header fields: 431
  // A connection must deliver each whole request (headers and body) within this, counted from
  // the connection's start or the previous response: bounds idle keep-alive connections and
  // slow (slowloris) senders alike. Then it is closed.
  std::chrono::milliseconds requestTimeout{10'000};
  std::size_t maxConnections = 1024;  // beyond: 503 and close (over TLS: closed at once)
  std::optional<TlsFiles> tls;        // HTTPS instead of HTTP
};

class HttpServer {
 public:
  using Respond = std::function<void(HttpResponse)>;
  // Called on the event loop; must call `respond` exactly once, on the event loop, now or later.
  using Handler = std::function<void(const HttpRequest&, Respond)>;

  // Binds and listens at once. Throws idem::Error (permanent) naming the address when it cannot
  // bind, or the file when a TLS file is missing, malformed or does not match.
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;  // the bound port
  // Runs `task` on the event loop. Thread-safe.
  void post(std::function<void()> task);
  // Runs `task` on the event loop every `period` while run() runs. Call before run().
  void every(std::chrono::milliseconds period, std::function<void()> task);
  // Serves until stop(), or until SIGTERM or SIGINT when `stopOnSignals`. On the calling thread.
  void run(bool stopOnSignals);
  // Makes run() return: open connections are closed. Thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::http
