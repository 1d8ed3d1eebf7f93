// httpCall(): a fresh calls::HttpClient per request.
#include "tests/http_client.h"

#include <chrono>

namespace idem::test {

HttpResult httpCall(const std::string& method, const std::string& url,
                    const std::vector<std::string>& headers, const std::string& body) {
  calls::HttpClient client(std::chrono::seconds(120));
  return client.request(method, url, headers, body);
}

}  // namespace idem::test
