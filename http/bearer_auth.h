// Bearer tokens: who may come in through the gateway and the service (docs/http.md, "Limits").
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "http/http_message.h"

namespace idem::http {

using BearerTokens = std::set<std::string, std::less<>>;

// Reads bearer tokens, one per line (blank lines and lines starting with # ignored). Throws
// idem::Error (permanent) naming the file when it cannot be read or holds no token.
BearerTokens readBearerTokens(const std::filesystem::path& file);

// nullopt when `tokens` is empty (no authentication required) or `request` carries
// "Authorization: Bearer <one of them>"; else the 401 problem to answer. Every token is compared
// in full, so the time taken does not tell how much of a guess was right.
std::optional<HttpResponse> refuseUnauthorized(const HttpRequest& request,
                                               const BearerTokens& tokens);

}  // namespace idem::http
