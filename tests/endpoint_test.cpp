// The endpoint over its store: map growth mid-run, and a damaged store refused at open.
#include <catch2/catch.hpp>
#include <filesystem>

#include "idem/error.h"
#include "store/version_store.h"
#include "tests/oracles.h"
#include "tests/test_endpoints.h"

namespace idem::test {

TEST_CASE("a tiny map grows under a running endpoint without losing a message",
          "[pipeline][store]") {
  SimWorld world;
  EndpointOptions options;
  options.initialMapBytes = 64 * 1024;
  options.batchSize = 50;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  for (int i = 0; i < 600; ++i) {
    world.send<Increment>("counters", "inc-" + std::to_string(i), [i](Increment::Builder m) {
      m.setCounterId("c" + std::to_string(i % 40));
      m.setBy(1);
      m.setOutputs(1);
    });
  }
  world.runUntilQuiet();
  REQUIRE(world.endpoint("counters").stats().processed == 600);
  world.closeAll();
  {
    store::VersionStore store(world.storeOf("counters"), "counters");
    REQUIRE(store.stats().mapBytes > 64 * 1024);
    REQUIRE(store.stats().historyEntries == 600);
  }
  OracleReport report = checkOracles(world, {"counters"});
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.empty());
}

TEST_CASE("an endpoint's stats count its store's commits, syncs and pages", "[pipeline][store]") {
  // SimWorld's endpoints do not sync (it crashes objects, not the machine): no syncs counted.
  SimWorld world;
  EndpointOptions options;
  options.batchSize = 50;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  for (int i = 0; i < 200; ++i) {
    world.send<Increment>("counters", "inc-" + std::to_string(i), [i](Increment::Builder m) {
      m.setCounterId("c" + std::to_string(i % 7));
      m.setBy(1);
      m.setOutputs(1);
    });
  }
  world.runUntilQuiet();
  const EndpointStats stats = world.endpoint("counters").stats();
  REQUIRE(stats.processed == 200);
  // 200 inputs in batches of at most 50: a commit per batch, plus the idle steps' records of
  // what was published.
  CHECK(stats.storeCommits >= 4);
  CHECK(stats.storeSyncs == 0);
  CHECK(stats.storePagesWritten >= stats.storeCommits);
}

TEST_CASE("an endpoint refuses a truncated store with an error naming the file",
          "[pipeline][store]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  for (int i = 0; i < 300; ++i) {
    world.send<Increment>("counters", "inc-" + std::to_string(i), [i](Increment::Builder m) {
      m.setCounterId("c" + std::to_string(i));
      m.setBy(1);
    });
  }
  world.runUntilQuiet();
  world.closeAll();
  const auto file = world.storeOf("counters") / "data.mdb";
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);

  SimulationTransport transport(1);
  EndpointOptions options;
  options.storeDirectory = world.storeOf("counters");
  try {
    Endpoint endpoint(counterHandlers("counters"), transport, options);
    FAIL("a truncated store was opened");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kPermanent);
    CHECK_THAT(e.what(), Catch::Contains(file.string()));
  }
}

TEST_CASE("an endpoint refuses another endpoint's store", "[pipeline][store]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  world.closeAll();
  SimulationTransport transport(1);
  EndpointOptions options;
  options.storeDirectory = world.storeOf("counters");
  REQUIRE_THROWS_WITH(Endpoint(counterHandlers("other"), transport, options),
                      Catch::Contains("counters"));
}

}  // namespace idem::test
