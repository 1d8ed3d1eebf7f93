// HttpClient: a blocking libcurl client for the HTTP tests (one request per call, no reuse of
// connections between calls unless asked), with the response's headers by lower-case name.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace idem::test {

struct HttpResult {
  long status = 0;  // 0: no response (connection refused or reset: `error` says)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;

  std::string header(const std::string& lowerCaseName) const {
    auto it = headers.find(lowerCaseName);
    return it == headers.end() ? std::string() : it->second;
  }
};

// `headers` as "Name: value". Thread-safe (each call has its own easy handle).
HttpResult httpCall(const std::string& method, const std::string& url,
                    const std::vector<std::string>& headers = {}, const std::string& body = {});

}  // namespace idem::test
