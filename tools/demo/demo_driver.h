// DemoDriver: runs one demo from start to report: starts each endpoint process, sends the
// scenario's setup and work at the edge, injects chaos, shows progress, waits until every work
// item ended and the queues drained, stops the processes (SIGTERM: they drain), checks the
// invariants and reports. The messages go through the embedded bus in DIR/bus, or NATS JetStream
// with options.transport (tools/demo/demo_bus.h says what differs).
#pragma once

#include "tools/demo/demo_options.h"

namespace idem::tools::demo {

// Runs the demo of `options.app` in `options.dir`. Returns the exit code: 0 when every invariant
// holds, 1 when one does not (or the work stalled), 130 when interrupted by SIGINT or SIGTERM
// (the processes are stopped gracefully; running the same command again finishes the work).
// `resumed`: the directory held this demo before. Throws idem::Error on setup failures.
int runDemo(const DemoOptions& options, bool resumed);

}  // namespace idem::tools::demo
