// The HTTP tests' client: the call runner's libcurl client (calls/http_client.h), one request
// per call on a connection of its own, with the response's headers by lower-case name.
#pragma once

#include <string>
#include <vector>

#include "calls/http_client.h"

namespace idem::test {

using calls::HttpResult;

// `headers` as "Name: value". Thread-safe (each call has its own connection). Waits up to 120 s.
HttpResult httpCall(const std::string& method, const std::string& url,
                    const std::vector<std::string>& headers = {}, const std::string& body = {});

}  // namespace idem::test
