// A blocking HTTP/1.1 client over libcurl's easy interface, for the call runner: one request at
// a time on a connection it keeps open between requests (keep-alive), headers by lower-case name.
// https: URLs are verified against the system's CAs, or only against `HttpClientTls::caFile`.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace idem::calls {

struct HttpResult {
  long status = 0;  // 0: no response (refused, reset, timed out: `error` says)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;

  std::string header(const std::string& lowerCaseName) const {
    auto it = headers.find(lowerCaseName);
    return it == headers.end() ? std::string() : it->second;
  }
};

// TLS settings for https: URLs; empty fields take libcurl's defaults.
struct HttpClientTls {
  std::string caFile;    // PEM CA certificates to verify the server with (default: the system's)
  std::string certFile;  // PEM client certificate (chain), for servers that require one
  std::string keyFile;   // its PEM private key
};

class HttpClient {
 public:
  explicit HttpClient(std::chrono::milliseconds timeout, HttpClientTls tls = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `headers` as "Name: value". Never throws for what the network or the server does: a
  // failure is status 0 and `error` (libcurl's reason, e.g. the certificate problem). Not
  // thread-safe (one connection).
  HttpResult request(const std::string& method, const std::string& url,
                     const std::vector<std::string>& headers = {}, const std::string& body = {});

 private:
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_;
  HttpClientTls tls_;
};

}  // namespace idem::calls
