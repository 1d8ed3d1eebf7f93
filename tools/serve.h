// serve(): one process serving endpoints of an app over the embedded bus (or NATS JetStream)
// until SIGTERM or SIGINT, then draining. Behind `idem run`, and behind the test endpoint processes
// of the crash tests: IDEM_CRASH_AT in the environment makes the process SIGKILL itself at a
// pipeline or calls runner step (tools/crash_hook.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "calls/call_runner.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "idem/nats_transport.h"
#include "idem/partitioning.h"
#include "tools/apps.h"

namespace idem::tools {

struct ServeOptions {
  std::vector<std::string> endpoints;
  std::string dir;  // the workspace (tools/workspace.h)
  // Empty or "embedded": the workspace's bus. "nats://HOST:PORT[,nats://...]": NATS JetStream;
  // a server that does not answer at start is retried with back-off until it does (or SIGTERM).
  std::string transport;
  // NATS only (docs/nats.md, "Partitioning"). partitionCount: P of every endpoint served here,
  // declared on the server (0: not given; the recorded count is used, 1 when none is).
  // partitions: the partitions of each served endpoint this process owns (empty: all of them,
  // allowed only when P is 1). One Endpoint, store and consumer per owned partition; partition N
  // of an endpoint with P > 1 keeps its store in DIR/stores/<endpoint>.p<N>.
  std::uint32_t partitionCount = 0;
  std::vector<std::uint32_t> partitions;
  // `--partitions auto`: partitions are balanced over the live processes serving the endpoint
  // (fenced owners, changelogs, restore: tools/serve_group.h); `partitions` is then unused.
  // `member` names this process in the group (empty: host-pid).
  bool partitionsAuto = false;
  std::string member;
  // The options of every endpoint served but those in perEndpoint; serve() sets each one's
  // storeDirectory and faultHook.
  EndpointOptions endpoint;
  // The whole options of the endpoints, by name, that are not served with `endpoint` (the
  // configuration file's [per_endpoint.NAME] tables, each read over [endpoint]).
  std::map<std::string, EndpointOptions, std::less<>> perEndpoint;
  // The embedded bus; serve() sets busDirectory (DIR/bus).
  EmbeddedTransportOptions embedded;
  // NATS: serve() sets url (from `transport`), partitionCounts, keyResolver, and password from
  // the environment variable IDEM_NATS_PASSWORD (never a flag or a file: flags show in `ps`).
  NatsTransportOptions nats;
  // The call runner, started when the calls endpoint (idem::kCallsEndpoint) is served: the base
  // URL of each service the handlers call (--call-service NAME=URL), timeouts.
  calls::CallRunnerOptions calls;
  // "HOST:PORT": serve /metrics, /healthz and /readyz there (docs/operations.md); empty: none.
  std::string admin;

  // The lease of both transports: the embedded bus's leaseTimeout and NATS's ackWait.
  void setLease(std::chrono::milliseconds lease) {
    embedded.leaseTimeout = lease;
    nats.ackWait = lease;
  }
  // The options endpoint `name` is served with.
  const EndpointOptions& endpointOptions(std::string_view name) const {
    const auto it = perEndpoint.find(name);
    return it == perEndpoint.end() ? endpoint : it->second;
  }
  // Applies `change` to the options of every endpoint (`endpoint` and each of perEndpoint): what
  // a flag such as --batch does, overriding the file for all of them.
  template <typename Change>
  void changeEveryEndpoint(Change change) {
    change(endpoint);
    for (auto& [name, options] : perEndpoint) change(options);
  }
  // No fsync anywhere (benchmarks only: unsafe on an OS crash).
  void setNoFsync() {
    changeEveryEndpoint([](EndpointOptions& e) { e.durable = false; });
    embedded.durable = false;
  }
};

// The entity keys every endpoint of `app` derives (its handlers' keyOf), for
// NatsTransportOptions::keyResolver: any process of the app (idem run, idem send over NATS) can
// route to any partitioned endpoint of it. `app` must outlive the resolver.
EntityKeyResolver keyResolverForApp(const App& app);

// "0,2", "0-3" or a mix ("0-1,5"): the partitions listed, ascending, without repeats. Throws
// idem::Error (permanent) naming the text when it is not such a list.
std::vector<std::uint32_t> parsePartitionList(std::string_view text);
// The `--partitions` flag: "auto" sets options.partitionsAuto, anything else is a list.
void applyPartitionsFlag(ServeOptions& options, std::string_view text);

// The NATS transport's options: o.nats with the URL of o.transport and the password of
// $IDEM_NATS_PASSWORD. Throws idem::Error (permanent) when o.transport is not a NATS URL.
NatsTransportOptions natsConnection(const ServeOptions& o);

// Returns the process exit code (0 after a drained stop, also when stopped while waiting for
// NATS). Throws idem::Error when the bus or a store cannot be opened, NATS refuses us, or the
// admin address cannot be bound. Under systemd (NOTIFY_SOCKET set) it sends READY=1 once every
// endpoint serves, WATCHDOG=1 at half of WATCHDOG_USEC while they do, and STOPPING=1 once drained.
// Stats files of processes that are gone are left in DIR/stats (`idem queues` removes them).
int serve(const App& app, const ServeOptions& options);

}  // namespace idem::tools
