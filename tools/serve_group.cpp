// serveGroup(): partitions assigned by the group, with a stats writer for whatever is served.
#include "tools/serve_group.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "idem/error.h"
#include "idem/nats_group.h"
#include "tools/stats_files.h"

namespace idem::tools {

namespace {

using namespace std::chrono_literals;

void writeStats(const Workspace& workspace, const ServedPartition& served) {
  writeStatsFile(workspace, served.label,
                 {{"endpoint", served.endpoint},
                  {"partition", served.label},
                  {"epoch", served.epoch},
                  {"restoredRecords", served.restoredRecords}},
                 served.stats);
}

}  // namespace

int serveGroup(const App& app, const ServeOptions& o, const Workspace& workspace, Host& host,
               NatsTransport& nats, const CrashHook& crashHook) {
  NatsGroupOptions groupOptions;
  groupOptions.member = o.member.empty() ? defaultMemberName() : o.member;
  groupOptions.lease = o.nats.ackWait;
  // Creating the owner and member buckets may time out while a fresh cluster elects leaders.
  std::unique_ptr<NatsPartitionGroup> made;
  for (std::chrono::milliseconds backoff{100};; backoff = std::min(backoff * 2, 5000ms)) {
    try {
      made = std::make_unique<NatsPartitionGroup>(nats, groupOptions);
      break;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kTransient) throw;
      spdlog::warn("joining the group: {}; retrying in {} ms", e.what(), backoff.count());
    }
    std::this_thread::sleep_for(backoff);
  }
  NatsPartitionGroup& group = *made;
  for (const std::string& name : o.endpoints) {
    const std::uint32_t count = nats.partitionCount(name);
    group.add(
        name, [&app, name] { return app.handlers(name); },
        [&o, &workspace, &crashHook, name, count](std::uint32_t partition) {
          EndpointOptions options = o.endpointOptions(name);
          options.storeDirectory = workspace.store(name, partition, count);
          options.faultHook = crashHook.forEndpoint(name);
          return options;
        });
  }
  spdlog::info("member {} of the groups of {} (app {}, lease {} ms, pid {})", groupOptions.member,
               fmt::join(o.endpoints, ", "), app.name, o.nats.ackWait.count(), ::getpid());

  std::exception_ptr failure;
  std::jthread runner([&](const std::stop_token& stop) {
    try {
      group.run(stop);
    } catch (...) {
      failure = std::current_exception();
      host.requestStop();
    }
  });
  std::jthread statsWriter([&](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      try {
        for (const ServedPartition& served : group.served()) writeStats(workspace, served);
      } catch (const std::exception& e) {  // counters are informative: never end the process
        spdlog::warn("cannot write the stats files: {}", e.what());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  host.run();  // until SIGTERM or SIGINT (or the group failed)
  statsWriter.request_stop();
  statsWriter.join();
  runner.request_stop();
  runner.join();  // drains and releases every served partition
  if (failure) std::rethrow_exception(failure);
  spdlog::info("drained, released and stopped");
  return 0;
}

}  // namespace idem::tools
