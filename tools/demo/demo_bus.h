// DemoBus: what the demo driver needs from the transport the demo runs on: sending edge
// messages, counting what waits in the app's queues (progress, stall detection, the drained
// check), reading the error queues (the report) and delivering copies of sent messages again
// (chaos). Two implementations: the workspace's embedded bus, and NATS JetStream.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "idem/transport.h"
#include "tools/demo/demo_options.h"
#include "tools/workspace.h"

namespace idem::tools::demo {

// One endpoint's queue as the demo sees it.
struct DemoQueue {
  std::string endpoint;
  std::uint64_t queued = 0;  // ready, leased and delayed
  std::uint64_t errors = 0;  // in its error queue
};

class DemoBus {
 public:
  virtual ~DemoBus() = default;

  virtual void subscribe(const std::string& endpoint, std::uint64_t messageType) = 0;
  // Returns once every message is durably accepted. Throws idem::Error.
  virtual void publish(std::span<const Outbound> messages) = 0;
  // Delivers `copies` (messages published before) to their endpoints once more, as a broker or a
  // retrying sender does: each reaches the endpoint, whose applied index must recognise it.
  virtual void publishDuplicates(std::span<const Outbound> copies) = 0;
  // The queues of the app's endpoints.
  virtual std::vector<DemoQueue> queues() = 0;
  // `endpoint`'s error queue, oldest first, at most `limit` entries.
  virtual std::vector<ErrorEntry> errors(const std::string& endpoint, std::size_t limit) = 0;
};

// The workspace's embedded bus (DIR/bus). Duplicates are published again as they are (the bus
// has no duplicate window: every copy is delivered).
std::unique_ptr<DemoBus> openEmbeddedDemoBus(const Workspace& workspace);

// NATS JetStream at options.transport, for the app's `endpoints`. A demo that is not `resumed`
// starts from empty streams: the endpoints' input and error streams are deleted first (with
// their consumers and the server's duplicate-window memory), because the stores start empty
// and anything left from an earlier demo would be processed against them. A resumed demo keeps
// the streams: what they hold is the interrupted run's work in flight. Duplicates are published
// with a Nats-Msg-Id of their own ("<id>-dup-<run>-<n>"), so the server does not drop them
// within its duplicate window and they reach the endpoints. Throws idem::Error (transient when
// no server answers).
std::unique_ptr<DemoBus> openNatsDemoBus(const DemoOptions& options,
                                         const std::vector<std::string>& endpoints, bool resumed);

}  // namespace idem::tools::demo
