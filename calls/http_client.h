// A blocking HTTP/1.1 client over libcurl's easy interface, for the call runner: one request at
// a time on a connection it keeps open between requests (keep-alive), headers by lower-case name.
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

class HttpClient {
 public:
  explicit HttpClient(std::chrono::milliseconds timeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `headers` as "Name: value". Never throws for what the network or the server does: a
  // failure is status 0 and `error`. Not thread-safe (one connection).
  HttpResult request(const std::string& method, const std::string& url,
                     const std::vector<std::string>& headers = {}, const std::string& body = {});

 private:
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_;
};

}  // namespace idem::calls
