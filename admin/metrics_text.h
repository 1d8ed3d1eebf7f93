// The Prometheus text exposition format (version 0.0.4) of what an `idem run` process serves:
// every EndpointStats counter, the batch and commit latency histograms, and the depth of each
// served endpoint's queue, one series per endpoint (and partition).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "idem/embedded_transport.h"
#include "idem/endpoint.h"

namespace idem::admin {

// One served Endpoint as /metrics shows it.
struct EndpointSample {
  std::string endpoint;   // the endpoint's name: the label endpoint="..."
  std::string partition;  // the label partition="...": the name, with .p<N> for a partition
  EndpointStats stats;
  std::optional<QueueStats> queue;  // the queue's counts, when the transport gives them
};

// The MIME type of the text below.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The exposition text of `samples`, with idem_ready 1 or 0. Label values are escaped as the
// format requires; families appear once each, with HELP and TYPE lines.
std::string metricsText(const std::vector<EndpointSample>& samples, bool ready);

}  // namespace idem::admin
