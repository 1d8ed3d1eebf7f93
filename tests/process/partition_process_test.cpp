// Partitioned endpoints as real processes over NATS JetStream: the chain a -> b -> c with four
// partitions per endpoint and two processes per endpoint owning two each, with kill -9s. Each
// entity must live only in its partition's store (so it was processed only by that partition's
// owner), and the chain must stay exactly-once by the byte-level oracles.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "idem/partitioning.h"
#include "store/version_store.h"
#include "tests/process/chain_run.h"

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
}  // namespace

TEST_CASE(
    "nats: four partitions per endpoint over two processes each, with kill -9s, process every "
    "entity only at its partition's owner, exactly once",
    "[process][crash][nats][partition]") {
  ChainRun::Options options;
  options.bus = ChainRun::Bus::kNats;
  options.counters = kCounters;
  options.partitionCount = kPartitions;
  ChainRun run(options);
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
    REQUIRE(byPartition.size() == kPartitions);  // every partition (so both processes) worked
    REQUIRE(all.size() == static_cast<std::size_t>(kCounters));
  }
}

}  // namespace idem::test
