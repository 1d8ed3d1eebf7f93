// Bearer tokens: the file, and the check of a request's Authorization header.
#include "http/bearer_auth.h"

#include <fstream>

#include "idem/error.h"

namespace idem::http {

namespace {
bool sameToken(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

BearerTokens readBearerTokens(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) fail(ErrorKind::kPermanent, "cannot read the bearer tokens file " + file.string());
  BearerTokens tokens;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    tokens.insert(line);
  }
  if (tokens.empty()) fail(ErrorKind::kPermanent, file.string() + " holds no bearer token");
  return tokens;
}

std::optional<HttpResponse> refuseUnauthorized(const HttpRequest& request,
                                               const BearerTokens& tokens) {
  if (tokens.empty()) return std::nullopt;
  const std::optional<std::string_view> header = request.header("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  bool ok = false;
  if (header && header->size() > kScheme.size() && header->substr(0, kScheme.size()) == kScheme) {
    const std::string_view token = header->substr(kScheme.size());
    for (const std::string& known : tokens) ok |= sameToken(token, known);
  }
  if (ok) return std::nullopt;
  HttpResponse r = problem(401, "unauthorized", "Unauthorized",
                           header ? "the bearer token is not accepted"
                                  : "an Authorization: Bearer <token> header is required");
  r.with("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace idem::http
