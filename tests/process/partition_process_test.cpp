// Partitioned endpoints as real processes over NATS JetStream: the chain a -> b -> c with four
// partitions per endpoint and two processes per endpoint owning two each, with kill -9s. Each
// entity must live only in its partition's store (so it was processed only by that partition's
// owner), and the chain must stay exactly-once by the byte-level oracles. Also: partitions
// reassigned to new processes mid-run, and a process with another partition count refused.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <set>

#include "idem/nats_transport.h"
#include "idem/partitioning.h"
#include "store/version_store.h"
#include "tests/process/chain_run.h"
#include "tests/shell_command.h"

namespace idem::test {

namespace {
constexpr std::uint32_t kPartitions = 4;
constexpr int kCounters = 40;

// Every entity key in each store of `endpoint`, by partition.
std::map<std::uint32_t, std::set<std::string>> entitiesByPartition(const ChainRun& run,
                                                                   const std::string& endpoint) {
  std::map<std::uint32_t, std::set<std::string>> out;
  const auto stores = run.storesOf(endpoint);
  for (std::uint32_t p = 0; p < stores.size(); ++p) {
    store::VersionStore store(stores[p], endpoint);
    store.read([&](store::Txn& txn) {
      store.forEachEntity(txn, 0, [&](std::uint64_t, const store::EntityName& name) {
        out[p].insert(name.key);
        return true;
      });
    });
  }
  return out;
}

// Each entity of a, b and c is in the store of its partition and in no other, and every
// partition has some (40 counters over 4 partitions).
void requireEntitiesInTheirPartitions(const ChainRun& run) {
  for (const std::string e : {"a", "b", "c"}) {
    CAPTURE(e);
    const auto byPartition = entitiesByPartition(run, e);
    std::set<std::string> all;
    for (const auto& [partition, keys] : byPartition) {
      for (const std::string& key : keys) {
        CAPTURE(partition, key);
        REQUIRE(partitionOf(key, kPartitions) == partition);  // only its owner's store has it
        REQUIRE(all.insert(key).second);                      // and no other store does
      }
    }
    REQUIRE(byPartition.size() == kPartitions);  // every partition (so every owner) worked
    REQUIRE(all.size() == static_cast<std::size_t>(kCounters));
  }
}

ChainRun::Options partitioned() {
  ChainRun::Options options;
  options.bus = ChainRun::Bus::kNats;
  options.counters = kCounters;
  options.partitionCount = kPartitions;
  return options;
}
}  // namespace

TEST_CASE(
    "nats: four partitions per endpoint over two processes each, with kill -9s, process every "
    "entity only at its partition's owner, exactly once",
    "[process][crash][nats][partition]") {
  ChainRun run(partitioned());
  for (const std::string e : {"a", "b", "c"}) {
    run.start(e + "-low", e, {}, "0-1");
    run.start(e + "-high", e, {}, "2,3");
  }
  run.sendIncrements(0, 240);
  // Owners killed mid-run, at points of progress (copies of Counted and Relayed recorded; the
  // run records about 960): each restarted owner finishes its partitions.
  run.runUntilDrained(std::chrono::seconds(120), [&] {
    const std::size_t copies = run.copiesRecorded();
    if (run.kills() == 0 && copies > 100) run.killAndRestart("a-high");
    if (run.kills() == 1 && copies > 300) run.killAndRestart("b-low");
    if (run.kills() == 2 && copies > 500) run.killAndRestart("c-high");
    return run.kills() < 3;
  });
  REQUIRE(run.kills() == 3);
  run.requireExactlyOnce();
  requireEntitiesInTheirPartitions(run);
}

TEST_CASE(
    "nats: partitions moved from one process to two new owners mid-run (stop, start over the "
    "same stores) stay exactly-once",
    "[process][nats][partition]") {
  ChainRun run(partitioned());
  for (const std::string e : {"a", "b", "c"}) run.start(e + "-all", e, {}, "0-3");
  run.sendIncrements(0, 240);
  for (int i = 0; i < 40; ++i) run.resend(i * 5);  // duplicates from the sender
  bool moved = false;
  run.runUntilDrained(std::chrono::seconds(120), [&] {
    if (run.copiesRecorded() > 200) {  // "adding instances": b's partitions get two owners
      run.stop("b-all");
      run.start("b-low", "b", {}, "0,1");
      run.start("b-high", "b", {}, "2-3");
      moved = true;
    }
    return !moved;
  });
  run.requireExactlyOnce();
  requireEntitiesInTheirPartitions(run);
}

TEST_CASE("nats: a process started with another partition count than the recorded one exits 1",
          "[process][nats][partition]") {
  NatsServer server;
  NatsTransportOptions o = natsOptionsFor(server.url());
  o.partitionCounts["a"] = 4;
  NatsTransport deployed(o);
  TempDir dir("idem-partition-mismatch");
  const std::string command = std::string(IDEM_TEST_ENDPOINT_BINARY) + " --endpoint a --dir " +
                              dir.path().string() + " --transport " + server.url() +
                              " --partition-count 2 --partitions 0 2>&1";
  const ShellResult run = runShell(command);
  const std::string& output = run.output;
  CAPTURE(output);
  REQUIRE(run.exitCode == 1);  // exited with 1 (a signal would read 128 + its number)
  REQUIRE_THAT(output, Catch::Contains("endpoint a has 4 partitions") &&
                           Catch::Contains("not 2 as configured here"));
  REQUIRE_FALSE(std::filesystem::exists(dir.path() / "stores"));  // refused before any store
}

}  // namespace idem::test
