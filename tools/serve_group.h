// serveGroup(): the `--partitions auto` half of serve(): this process joins the group of each
// served endpoint (idem::NatsPartitionGroup, include/idem/nats_group.h) and serves the
// partitions the group gives it, fenced, each restored from its changelog when taken.
#pragma once

#include <functional>

#include "idem/endpoint.h"
#include "idem/host.h"
#include "idem/nats_transport.h"
#include "tools/apps.h"
#include "tools/crash_hook.h"
#include "tools/serve.h"
#include "tools/workspace.h"

namespace idem::tools {

// Runs until SIGTERM/SIGINT (taken by `host`), then drains and releases every partition served.
// The group's lease is options.leaseMs; its member name options.member (default: host-pid).
// Writes DIR/stats/E.p<N>.<pid>.json for each partition served. Returns 0; throws idem::Error
// when the group cannot go on.
int serveGroup(const App& app, const ServeOptions& options, const Workspace& workspace, Host& host,
               NatsTransport& nats, const CrashHook& crashHook);

}  // namespace idem::tools
