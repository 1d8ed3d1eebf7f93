// HttpServer: Beast's parser with its limits, one coroutine per connection (the same one over
// a TCP stream or a TLS stream on it), and the bridge from a handler's later respond() back into
// the connection's coroutine (a timer it waits on).
// The only file that includes Beast: Beast is header-heavy.
#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <csignal>
#include <optional>

#include "http/tls_context.h"
#include "idem/error.h"

namespace idem::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Where a handler's answer lands, possibly after the connection's coroutine is gone.
struct Slot {
  std::optional<HttpResponse> answer;
  asio::steady_timer* wakeUp = nullptr;  // null once the coroutine stopped waiting
};

bhttp::response<bhttp::string_body> toBeast(HttpResponse r, unsigned version, bool keepAlive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::server, "idem");
  for (auto& [name, value] : r.headers) res.set(name, value);
  res.body() = std::move(r.body);
  res.keep_alive(keepAlive && !r.closeConnection);
  res.prepare_payload();
  return res;
}

HttpResponse framingProblem(const beast::error_code& ec, const HttpServerOptions& o) {
  HttpResponse r;
  if (ec == bhttp::error::body_limit) {
    r = problem(413, "body-too-large", "Content Too Large",
                "the body is over the limit of " + std::to_string(o.maxBodyBytes) + " bytes");
  } else if (ec == bhttp::error::header_limit) {
    r = problem(
        431, "headers-too-large", "Request Header Fields Too Large",
        "the request line and headers are over " + std::to_string(o.maxHeaderBytes) + " bytes");
  } else {
    r = problem(400, "malformed-request", "Bad Request",
                "not an HTTP/1.1 request: " + ec.message());
  }
  r.closeConnection = true;
  return r;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {
    if (options.tls) tlsContext = makeServerTlsContext(*options.tls);
  }

  // One connection, counted while it lasts: plain, or TLS (handshake, requests, close_notify).
  asio::awaitable<void> session(beast::tcp_stream stream);
  // The requests of one connection until it closes, fails or is not kept alive.
  template <class Stream>
  asio::awaitable<void> serveRequests(Stream& stream, const std::string& peer);
  asio::awaitable<void> refuse(beast::tcp_stream stream);
  asio::awaitable<void> accept();

  HttpServerOptions options;
  Handler handler;
  std::unique_ptr<asio::ssl::context> tlsContext;  // when options.tls
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::size_t connections = 0;
  std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>> periodic;
};

asio::awaitable<void> HttpServer::Impl::accept() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {  // e.g. out of file descriptors: the next accept may work
      spdlog::warn("accept: {}", ec.message());
      continue;
    }
    beast::tcp_stream stream(std::move(socket));
    if (connections >= options.maxConnections && tlsContext) {
      // No handshake for a connection over the limit: a stranger's flood costs no crypto.
      beast::error_code ignored;
      stream.socket().close(ignored);
    } else if (connections >= options.maxConnections) {
      asio::co_spawn(ioc, refuse(std::move(stream)), asio::detached);
    } else {
      asio::co_spawn(ioc, session(std::move(stream)), asio::detached);
    }
  }
}

asio::awaitable<void> HttpServer::Impl::refuse(beast::tcp_stream stream) {
  HttpResponse r =
      problem(503, "too-many-connections", "Service Unavailable",
              "the server holds " + std::to_string(options.maxConnections) + " connections");
  r.with("Retry-After", "1");
  r.closeConnection = true;
  auto res = toBeast(std::move(r), 11, false);
  stream.expires_after(std::chrono::seconds(1));
  co_await bhttp::async_write(stream, res, kTuple);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> HttpServer::Impl::session(beast::tcp_stream stream) {
  ++connections;
  struct Count {
    std::size_t& n;
    ~Count() { --n; }
  } count{connections};
  beast::error_code peerError;
  const auto remote = stream.socket().remote_endpoint(peerError);
  const std::string peer =
      peerError ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
  if (!tlsContext) {
    co_await serveRequests(stream, peer);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_return;
  }
  TlsStream tls(std::move(stream), *tlsContext);
  beast::get_lowest_layer(tls).expires_after(options.requestTimeout);
  auto [handshakeError] = co_await tls.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (handshakeError) {  // plain HTTP, an untrusted or missing client certificate, a scan
    spdlog::debug("TLS handshake with {} failed: {}", peer, handshakeError.message());
    co_return;
  }
  co_await serveRequests(tls, peer);
  beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(1));
  co_await tls.async_shutdown(kTuple);  // close_notify; a peer that is gone is no matter
}

template <class Stream>
asio::awaitable<void> HttpServer::Impl::serveRequests(Stream& stream, const std::string& peer) {
  auto& tcpStream = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.maxHeaderBytes));
    parser.body_limit(options.maxBodyBytes);
    tcpStream.expires_after(options.requestTimeout);  // 1. the whole request, headers and body
    auto [headerError, headerBytes] =
        co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    std::optional<HttpResponse> refused;
    if (headerError == bhttp::error::end_of_stream || headerError == beast::error::timeout ||
        headerError == asio::error::connection_reset || headerError == asio::error::eof ||
        headerError == asio::ssl::error::stream_truncated) {
      break;  // closed, idle or too slow: nothing to answer (a timed-out stream is closed)
    }
    if (headerError) refused = framingProblem(headerError, options);
    if (!refused) {
      const auto& fields = parser.get().base();
      if (static_cast<std::size_t>(std::distance(fields.begin(), fields.end())) >
          options.maxHeaderCount) {
        refused = problem(431, "headers-too-many", "Request Header Fields Too Large",
                          "more than " + std::to_string(options.maxHeaderCount) + " header fields");
        refused->closeConnection = true;
      }
    }
    if (!refused && parser.get()[bhttp::field::expect] == "100-continue") {
      bhttp::response<bhttp::empty_body> go{bhttp::status::continue_, 11};
      auto [ec, n] = co_await bhttp::async_write(stream, go, kTuple);
      if (ec) break;
    }
    if (!refused && !parser.is_done()) {
      auto [bodyError, bodyBytes] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (bodyError == beast::error::timeout || bodyError == asio::error::connection_reset ||
          bodyError == asio::error::eof || bodyError == bhttp::error::partial_message ||
          bodyError == asio::ssl::error::stream_truncated) {
        break;
      }
      if (bodyError) refused = framingProblem(bodyError, options);
    }
    const unsigned version = parser.get().version();
    const bool keepAlive = !refused && parser.get().keep_alive();
    HttpResponse answer;
    if (refused) {
      answer = std::move(*refused);
    } else {
      bhttp::request<bhttp::string_body> req = parser.release();
      HttpRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req.base()) {
        request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      request.body = std::move(req.body());
      request.peer = peer;
      // 2. The handler answers now or later; a timer that never fires carries the wake-up.
      auto slot = std::make_shared<Slot>();
      asio::steady_timer wakeUp(ioc, std::chrono::steady_clock::time_point::max());
      slot->wakeUp = &wakeUp;
      handler(request, [slot](HttpResponse r) {
        slot->answer = std::move(r);
        if (slot->wakeUp) slot->wakeUp->cancel();
      });
      while (!slot->answer) co_await wakeUp.async_wait(kTuple);
      slot->wakeUp = nullptr;
      answer = std::move(*slot->answer);
    }
    auto res = toBeast(std::move(answer), version, keepAlive);
    tcpStream.expires_after(options.requestTimeout);
    auto [writeError, written] = co_await bhttp::async_write(stream, res, kTuple);
    if (writeError || !res.keep_alive()) break;
  }
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  const std::string where = impl_->options.host + ":" + std::to_string(impl_->options.port);
  if (ec) fail(ErrorKind::kPermanent, "not an IP address to listen on: " + impl_->options.host);
  const tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return;
  fail(ErrorKind::kPermanent, "cannot listen on " + where + ": " + ec.message());
}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::post(std::function<void()> task) { asio::post(impl_->ioc, std::move(task)); }

void HttpServer::every(std::chrono::milliseconds period, std::function<void()> task) {
  impl_->periodic.emplace_back(period, std::move(task));
}

void HttpServer::run(bool stopOnSignals) {
  Impl& impl = *impl_;
  asio::co_spawn(impl.ioc, impl.accept(), asio::detached);
  for (auto& [period, task] : impl.periodic) {
    asio::co_spawn(
        impl.ioc,
        [&impl, period = period, &task]() -> asio::awaitable<void> {
          asio::steady_timer timer(impl.ioc);
          for (;;) {
            timer.expires_after(period);
            auto [ec] = co_await timer.async_wait(kTuple);
            if (ec) co_return;
            task();
          }
        },
        asio::detached);
  }
  asio::signal_set signals(impl.ioc);
  if (stopOnSignals) {
    signals.add(SIGTERM);
    signals.add(SIGINT);
    signals.async_wait([&impl](const beast::error_code& ec, int) {
      if (!ec) impl.ioc.stop();
    });
  }
  impl.ioc.run();
}

void HttpServer::stop() { impl_->ioc.stop(); }

}  // namespace idem::http
