// Crashes at every named step of the pipeline, in a chain counters -> sink: the crashed endpoint
// is abandoned mid-batch and reopened on its store, its leases expire, and the run continues.
// Every oracle of DESIGN.md §4 is then checked by bytes, downstream included.
#include <catch2/catch.hpp>
#include <map>

#include "idem/envelope.capnp.h"
#include "store/version_store.h"
#include "tests/oracles.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

void sendWorkload(SimWorld& world, int count) {
  for (int i = 0; i < count; ++i) {
    world.send<Increment>("counters", "inc-" + std::to_string(i), [i](Increment::Builder m) {
      m.setCounterId("c" + std::to_string(i % 3));
      m.setBy(static_cast<std::uint32_t>(i + 1));
      m.setOutputs(static_cast<std::uint32_t>(i % 4));  // 0 to 3 outputs each
      m.setForward("sink");
    });
  }
}

// The sink's total must equal the sum over distinct Counted messages: each applied exactly once.
void requireSinkExactlyOnce(SimWorld& world) {
  std::map<MessageId, std::uint64_t> distinct;
  for (const Outbound& m : world.transport.published()) {
    if (m.messageType != capnp::typeId<Counted>()) continue;
    CanonicalReader envelope(m.envelope, "envelope");
    auto bytes = envelope.root<wire::Envelope>().getPayload();
    CanonicalReader payload(
        std::span(reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()), "payload");
    distinct[m.id] = payload.root<Counted>().getValue();
  }
  std::map<std::string, std::uint64_t> expected;
  for (const Outbound& m : world.transport.published()) {
    if (m.messageType != capnp::typeId<Counted>() || distinct.count(m.id) == 0) continue;
    CanonicalReader envelope(m.envelope, "envelope");
    auto bytes = envelope.root<wire::Envelope>().getPayload();
    CanonicalReader payload(
        std::span(reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()), "payload");
    expected[payload.root<Counted>().getCounterId()] += distinct[m.id];
    distinct.erase(m.id);
  }
  world.closeAll();
  store::VersionStore store(world.storeOf("sink"), "sink");
  std::map<std::string, std::uint64_t> actual;
  store.read([&](store::Txn& txn) {
    store.forEachEntity(txn, 0, [&](std::uint64_t entity, const store::EntityName& name) {
      auto snapshot = store.findSnapshotAtOrBefore(txn, entity, store.headVersion(txn, entity));
      REQUIRE(snapshot);
      CanonicalReader state(snapshot->state, "state");
      actual[name.key] = state.root<Counter>().getValue();
      return true;
    });
  });
  REQUIRE(actual == expected);
}

void runChain(SimWorld& world, int messages) {
  world.add("counters", [] { return counterHandlers("counters"); });
  world.add("sink", [] { return sinkHandlers("sink"); });
  sendWorkload(world, messages);
  world.runUntilQuiet();
}

void requireAllOracles(SimWorld& world) {
  OracleReport report = checkOracles(world, {"counters", "sink"});
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.empty());
  requireSinkExactlyOnce(world);
}

}  // namespace

TEST_CASE("a crash at any pipeline step, then a restart, leaves an exactly-once outcome",
          "[pipeline][crash]") {
  const FaultPoint point =
      GENERATE(FaultPoint::kInHandler, FaultPoint::kBeforeCommit, FaultPoint::kAfterCommit,
               FaultPoint::kAfterPublish, FaultPoint::kBeforeAck);
  const unsigned occurrence = GENERATE(1u, 2u, 5u);
  const std::string crashing = GENERATE(std::string("counters"), std::string("sink"));
  CAPTURE(toString(point), occurrence, crashing);

  SimWorld world(7);
  EndpointOptions small;
  small.batchSize = 4;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, small);
  world.add(
      "sink", [] { return sinkHandlers("sink"); }, small);
  world.crashAt(crashing, point, occurrence);
  sendWorkload(world, 24);
  const unsigned crashes = world.runUntilQuiet();
  REQUIRE(crashes == 1);
  requireAllOracles(world);
}

TEST_CASE("a crash after k of n outputs were published re-emits the rest, identical",
          "[pipeline][crash]") {
  const std::size_t k = GENERATE(0u, 1u, 2u);
  CAPTURE(k);
  SimWorld world(11);
  world.add("counters", [] { return counterHandlers("counters"); });
  world.add("sink", [] { return sinkHandlers("sink"); });
  world.send<Increment>("counters", "three", [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(3);
    m.setOutputs(3);
    m.setForward("sink");
  });
  world.transport.crashPublishAfter(k);
  REQUIRE(world.runUntilQuiet() == 1);
  REQUIRE(world.transport.published().size() == k + 3);
  requireAllOracles(world);
}

TEST_CASE("a long run under duplicates, reordering and repeated crashes stays exactly-once",
          "[pipeline][crash][simulation]") {
  const std::uint64_t seed = GENERATE(1u, 2u, 3u, 4u);
  CAPTURE(seed);
  SimWorld world(seed, SimulationFaults{25, true});
  EndpointOptions small;
  small.batchSize = 3;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, small);
  world.add(
      "sink", [] { return sinkHandlers("sink"); }, small);
  world.crashAt("counters", FaultPoint::kAfterCommit, 3);
  world.crashAt("sink", FaultPoint::kBeforeAck, 4);
  world.crashAt("counters", FaultPoint::kInHandler, 9);
  sendWorkload(world, 60);
  world.runUntilQuiet();
  requireAllOracles(world);
}

TEST_CASE("without faults the chain processes every message once", "[pipeline][crash]") {
  SimWorld world;
  runChain(world, 30);
  REQUIRE(world.transport.deadLetters("counters").empty());
  requireAllOracles(world);
}

}  // namespace idem::test
