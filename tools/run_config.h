// RunConfig: what `idem run --config FILE` reads. A TOML file names the handlers, the endpoints,
// the workspace, every EndpointOptions field and every transport option (the grammar, with
// every key and its default: docs/operations.md, "Configuration file"); flags given on the
// command line override it.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tools/serve.h"

namespace idem::tools {

// [gateway]: what `idem gateway --config FILE` reads beside the file's app, handlers, dir,
// transport and [nats] (`idem run` reads the table and uses none of it, so that one file serves
// both). Its flags' defaults; docs/http.md, "The command".
struct GatewayConfig {
  std::vector<std::string> endpoints;  // routed to; empty: every endpoint of the app
  std::string listen = "127.0.0.1:8080";
  std::string name = "gateway";  // its reply queue
  std::chrono::milliseconds wait{5000};
  std::string authTokensFile;
  std::size_t maxConnections = 1024;
  std::chrono::milliseconds requestTimeout{10'000};
  bool service = false;
  std::chrono::seconds maxCallAge{86'400};
  std::string tlsCertFile;
  std::string tlsKeyFile;
  std::string tlsClientCaFile;
};

struct RunConfig {
  std::string app;                 // a built-in app, or
  std::string handlers;            // a handler module (.so)
  std::string logFormat = "text";  // "text" or "json" (tools/log_setup.h)
  ServeOptions serve;
  GatewayConfig gateway;
};

// Reads `file` over `defaults` (the keys it does not name keep their value). A table
// [per_endpoint.NAME] (with its own .retry and .retention) holds the EndpointOptions of endpoint
// NAME that differ from [endpoint]: serve.perEndpoint[NAME] is [endpoint] with them applied.
// Whether NAME is an endpoint of the app is checkEndpointNames()'s to say. Throws idem::Error
// (permanent) naming the file, the line and the key when the file cannot be read or parsed, has a
// key this version does not know (a typo must not be ignored), or a value of the wrong type or
// out of range.
RunConfig loadRunConfig(const std::filesystem::path& file, RunConfig defaults = {});

// Throws idem::Error (permanent) naming `file` and every [per_endpoint.NAME] of `config` whose
// NAME is not an endpoint of `app` (a misspelt name must not leave its endpoint unconfigured).
void checkEndpointNames(const RunConfig& config, const App& app, const std::filesystem::path& file);

// "250ms", "30s", "5m", "12h", "7d" (also "us" and "ns"): the duration. Throws idem::Error
// (permanent) quoting the text when it is not one.
std::chrono::nanoseconds parseDuration(std::string_view text);

}  // namespace idem::tools
