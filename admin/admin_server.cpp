// AdminServer: Boost.Beast over one io_context thread. Each connection is read and answered
// synchronously on that thread with a socket timeout, so a stuck client delays the next scrape by
// at most that much and never blocks the endpoints.
#include "admin/admin_server.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <thread>

#include "idem/error.h"

namespace idem::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

tcp::endpoint parseAddress(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    fail(ErrorKind::kPermanent, "--admin wants HOST:PORT (e.g. 127.0.0.1:9464), not '" +
                                    std::string(address) + "': " + why);
  };
  if (colon == std::string_view::npos) bad("no port");
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  const std::string_view portText = address.substr(colon + 1);
  std::uint16_t port = 0;
  const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || ec != std::errc() || end != portText.data() + portText.size()) {
    bad("the port is not a number from 0 to 65535");
  }
  boost::system::error_code error;
  const auto ip = asio::ip::make_address(host, error);
  if (error) bad("the host is not an IP address (" + error.message() + ")");
  return {ip, port};
}

void setTimeout(tcp::socket& socket, std::chrono::seconds timeout) {
  const timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

struct AdminServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  AdminRoute route;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](boost::system::error_code error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) return;  // closed by the destructor
      if (!error) answer(socket);
      accept();
    });
  }

  void answer(tcp::socket& socket) {
    setTimeout(socket, std::chrono::seconds(5));
    boost::beast::flat_buffer buffer;
    boost::system::error_code error;
    for (;;) {  // keep-alive: Prometheus reuses its connection
      http::request<http::empty_body> request;
      http::read(socket, buffer, request, error);
      if (error) return;  // closed, timed out or malformed: nothing to answer
      http::response<http::string_body> response;
      if (request.method() != http::verb::get && request.method() != http::verb::head) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET, HEAD");
        response.body() = "GET only\n";
      } else {
        std::string_view target(request.target().data(), request.target().size());
        target = target.substr(0, target.find('?'));
        AdminResponse answer;
        try {
          answer = route(target);
        } catch (const std::exception& e) {
          answer = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
        }
        response.result(answer.status);
        response.set(http::field::content_type, answer.contentType);
        response.body() = std::move(answer.body);
      }
      response.set(http::field::cache_control, "no-store");
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      if (request.method() == http::verb::head) response.body().clear();
      http::write(socket, response, error);
      if (error || !request.keep_alive()) break;
    }
    socket.shutdown(tcp::socket::shutdown_both, error);
  }
};

AdminServer::AdminServer(std::string_view address, AdminRoute route)
    : impl_(std::make_unique<Impl>()) {
  impl_->route = std::move(route);
  const tcp::endpoint endpoint = parseAddress(address);
  boost::system::error_code error;
  impl_->acceptor.open(endpoint.protocol(), error);
  if (!error) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) impl_->acceptor.bind(endpoint, error);
  if (!error) impl_->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    fail(ErrorKind::kPermanent,
         "cannot listen on " + std::string(address) + " (--admin): " + error.message());
  }
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

AdminServer::~AdminServer() {
  asio::post(impl_->io, [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->thread.join();
}

std::uint16_t AdminServer::port() const noexcept {
  boost::system::error_code error;
  const tcp::endpoint bound = impl_->acceptor.local_endpoint(error);
  return error ? 0 : bound.port();
}

}  // namespace idem::admin
