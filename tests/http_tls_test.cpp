// HttpServer over TLS (http/tls_context.h) with the libcurl client the call runner uses
// (calls/http_client.h): certificates from tests/make_test_certificates.sh, real handshakes on
// loopback.
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "calls/http_client.h"
#include "http/http_server.h"
#include "idem/error.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"

using namespace std::chrono_literals;
using namespace idem;
using test::TempDir;

namespace {

struct Certificates {
  TempDir dir{"idem-tls"};
  Certificates() {
    const auto made = test::runShell(std::string(IDEM_MAKE_TEST_CERTIFICATES) + " " +
                                     dir.path().string() + " 2>&1");
    INFO(made.output);
    REQUIRE(made.exitCode == 0);
  }
  std::string operator()(const char* name) const { return (dir / name).string(); }
};

// A server answering every request with its method and target, on a thread of its own.
struct TlsServer {
  http::HttpServer server;
  std::jthread thread{[this] { server.run(false); }};
  explicit TlsServer(http::HttpServerOptions options)
      : server(std::move(options), [](const http::HttpRequest& r, http::HttpServer::Respond done) {
          done(http::HttpResponse{200, {}, r.method + " " + r.target});
        }) {}
  ~TlsServer() {
    server.stop();
    thread.join();
  }
  std::string url(const char* scheme = "https") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(server.port()) + "/hello";
  }
};

http::HttpServerOptions tlsOptions(const Certificates& pki, bool requireClients) {
  http::HttpServerOptions o;
  o.tls = http::TlsFiles{pki("server.crt"), pki("server.key"),
                         requireClients ? pki("ca.crt") : std::string()};
  return o;
}

calls::HttpResult get(const std::string& url, calls::HttpClientTls tls = {}) {
  calls::HttpClient client(5s, std::move(tls));
  return client.request("GET", url);
}

}  // namespace

TEST_CASE(
    "over HTTPS a client that trusts the server's CA is served; plain HTTP and a client "
    "that does not trust it are refused at the handshake, and the server goes on",
    "[http][tls]") {
  Certificates pki;
  TlsServer s(tlsOptions(pki, false));
  const auto served = get(s.url(), {pki("ca.crt"), "", ""});
  CHECK(served.status == 200);
  CHECK(served.body == "GET /hello");

  const auto plain = get(s.url("http"));
  CHECK(plain.status == 0);
  const auto untrusting = get(s.url());  // the system's CAs never signed the test CA
  CHECK(untrusting.status == 0);
  CHECK_THAT(untrusting.error, Catch::Contains("certificate"));

  // Keep-alive over TLS: two requests on one client.
  calls::HttpClient client(5s, {pki("ca.crt"), "", ""});
  CHECK(client.request("GET", s.url()).status == 200);
  CHECK(client.request("POST", s.url(), {}, "x").body == "POST /hello");
}

TEST_CASE("a server that requires client certificates serves only clients the CA signed",
          "[http][tls]") {
  Certificates pki;
  TlsServer s(tlsOptions(pki, true));
  const auto anonymous = get(s.url(), {pki("ca.crt"), "", ""});
  CHECK(anonymous.status == 0);
  const auto selfMade = get(s.url(), {pki("ca.crt"), pki("server.crt"), pki("stranger.key")});
  CHECK(selfMade.status == 0);
  const auto known = get(s.url(), {pki("ca.crt"), pki("client.crt"), pki("client.key")});
  CHECK(known.status == 200);
  CHECK(known.body == "GET /hello");
}

TEST_CASE(
    "a TLS file that is missing, not PEM, or a key of another certificate stops the server "
    "at start, named",
    "[http][tls]") {
  Certificates pki;
  const auto refused = [&](http::TlsFiles files) {
    http::HttpServerOptions o;
    o.tls = std::move(files);
    try {
      http::HttpServer server(o, [](const http::HttpRequest&, http::HttpServer::Respond) {});
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::kPermanent);
      return std::string(e.what());
    }
    FAIL("the server started");
    return std::string();
  };
  CHECK_THAT(refused({pki("none.crt"), pki("server.key"), ""}),
             Catch::Contains(pki("none.crt")) && Catch::Contains("no such file"));
  CHECK_THAT(refused({pki("server.key"), pki("server.key"), ""}),
             Catch::Contains("not a PEM certificate chain"));
  CHECK_THAT(refused({pki("server.crt"), pki("ca.srl"), ""}),
             Catch::Contains("not a PEM private key"));
  CHECK_THAT(refused({pki("server.crt"), pki("stranger.key"), ""}),
             Catch::Contains("does not belong to the certificate"));
  CHECK_THAT(refused({pki("server.crt"), pki("server.key"), pki("none-ca.crt")}),
             Catch::Contains("client CA") && Catch::Contains("no such file"));
}
