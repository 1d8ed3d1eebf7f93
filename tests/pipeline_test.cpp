// The state-based pipeline on the simulation transport: duplicates, alternative worlds,
// determinism, bad input and recoverability, each checked by bytes against the oracles.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstring>

#include "idem/envelope.capnp.h"
#include "store/version_store.h"
#include "tests/oracles.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

template <typename M>
typename M::Reader payloadOf(CanonicalReader& envelope, std::optional<CanonicalReader>& payload) {
  auto bytes = envelope.root<wire::Envelope>().getPayload();
  payload.emplace(std::span(reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()),
                  "payload");
  return payload->root<M>();
}

// The published copies of messages of type M, in publication order.
template <typename M>
std::vector<Outbound> publishedOf(const SimulationTransport& transport) {
  std::vector<Outbound> out;
  for (const Outbound& m : transport.published()) {
    if (m.messageType == capnp::typeId<M>()) out.push_back(m);
  }
  return out;
}

void requireOracles(SimWorld& world, const std::vector<std::string>& endpoints) {
  OracleReport report = checkOracles(world, endpoints);
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.empty());
  REQUIRE(report.historyEntries > 0);
}

Bytes incrementMessage(const std::string& key, const std::string& counter, std::uint32_t by,
                       std::uint32_t outputs, const std::string& forward = "") {
  return edgeMessage<Increment>(
      {MessageId::forEdge("test", key), "counters", TimePoint(std::chrono::hours(500000))},
      [&](Increment::Builder m) {
        m.setCounterId(counter);
        m.setBy(by);
        m.setOutputs(outputs);
        m.setForward(forward);
      });
}

// Options that re-run every duplicate, so that its bytes can be compared with the original's.
EndpointOptions replaying() {
  EndpointOptions options;
  options.replayPublishedDuplicates = true;
  return options;
}

}  // namespace

TEST_CASE("a duplicate re-emits the original Hit even after the target moved (alternative worlds)",
          "[pipeline][duplicates]") {
  SimWorld world;
  world.add(
      "gallery", [] { return galleryHandlers(); }, replaying());
  world.send<PlaceTarget>("gallery", "place-1", [](PlaceTarget::Builder m) {
    m.setTargetId("t1");
    m.setPosition(42);
  });
  Bytes fire =
      edgeMessage<Fire>({MessageId::forEdge("test", "fire-1"), "gallery", {}}, [](Fire::Builder m) {
        m.setTargetId("t1");
        m.setPosition(42);
      });
  world.sendRaw("gallery", fire);
  world.runUntilQuiet();
  world.send<PlaceTarget>("gallery", "move-1", [](PlaceTarget::Builder m) {
    m.setTargetId("t1");
    m.setPosition(7);
  });
  world.runUntilQuiet();
  world.sendRaw("gallery", fire);  // the duplicate arrives after the target moved
  world.runUntilQuiet();

  REQUIRE(publishedOf<Missed>(world.transport).empty());
  auto hits = publishedOf<Hit>(world.transport);
  REQUIRE(hits.size() == 2);
  REQUIRE(hits[0].id == hits[1].id);
  REQUIRE(hits[0].envelope == hits[1].envelope);
  REQUIRE(world.endpoint("gallery").stats().duplicates == 1);
  requireOracles(world, {"gallery"});
}

TEST_CASE("a duplicate of an input whose outputs were confirmed is acked without a re-run",
          "[pipeline][duplicates][publication]") {
  SimWorld world;
  world.add("gallery", [] { return galleryHandlers(); });
  world.send<PlaceTarget>("gallery", "place-1", [](PlaceTarget::Builder m) {
    m.setTargetId("t1");
    m.setPosition(42);
  });
  Bytes fire =
      edgeMessage<Fire>({MessageId::forEdge("test", "fire-1"), "gallery", {}}, [](Fire::Builder m) {
        m.setTargetId("t1");
        m.setPosition(42);
      });
  world.sendRaw("gallery", fire);
  world.runUntilQuiet();
  world.send<PlaceTarget>("gallery", "move-1", [](PlaceTarget::Builder m) {
    m.setTargetId("t1");
    m.setPosition(7);
  });
  world.sendRaw("gallery", fire);
  world.runUntilQuiet();
  REQUIRE(publishedOf<Missed>(world.transport).empty());
  REQUIRE(publishedOf<Hit>(world.transport).size() == 1);
  REQUIRE(world.endpoint("gallery").stats().alreadyPublished == 1);
  REQUIRE(world.endpoint("gallery").stats().duplicates == 0);
  requireOracles(world, {"gallery"});
}

TEST_CASE("a duplicate of an input committed but never published is replayed and re-emitted",
          "[pipeline][duplicates][publication]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  world.crashAt("counters", FaultPoint::kAfterCommit);
  Bytes inc = incrementMessage("inc", "c1", 1, 2);
  world.sendRaw("counters", inc);
  // A copy arrives right after the crash, before the restarted endpoint's first idle step
  // (which would re-emit the owed version on its own: Pipeline::reemitOwed).
  world.afterCrash = [&](const std::string&) { world.sendRaw("counters", inc); };
  REQUIRE(world.runUntilQuiet() == 1);
  world.afterCrash = {};
  REQUIRE(publishedOf<Counted>(world.transport).size() == 2);
  REQUIRE(world.endpoint("counters").stats().duplicates == 1);
  world.sendRaw("counters", inc);  // by now confirmed: acked without a re-run
  world.runUntilQuiet();
  REQUIRE(publishedOf<Counted>(world.transport).size() == 2);
  requireOracles(world, {"counters"});
}

TEST_CASE("back-to-back duplicates in one batch commit once and re-emit identical bytes",
          "[pipeline][duplicates]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  Bytes inc = incrementMessage("inc-1", "c1", 5, 2);
  for (int i = 0; i < 3; ++i) world.sendRaw("counters", inc);
  world.runUntilQuiet();

  auto counted = publishedOf<Counted>(world.transport);
  REQUIRE(counted.size() == 6);
  for (std::size_t i = 2; i < counted.size(); ++i) {
    REQUIRE(counted[i].id == counted[i % 2].id);
    REQUIRE(counted[i].envelope == counted[i % 2].envelope);
  }
  REQUIRE(world.endpoint("counters").stats().processed == 1);
  REQUIRE(world.endpoint("counters").stats().duplicates == 2);
  requireOracles(world, {"counters"});
}

TEST_CASE("a duplicate after many versions, no-ops among them, replays its own version",
          "[pipeline][duplicates]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, replaying());
  Bytes first = incrementMessage("first", "c1", 1, 1);
  world.sendRaw("counters", first);
  world.runUntilQuiet();
  for (int i = 0; i < 50; ++i) {
    if (i % 3 == 0) {
      world.send<Ping>("counters", "ping-" + std::to_string(i),
                       [](Ping::Builder m) { m.setCounterId("c1"); });
    } else {
      world.sendRaw("counters", incrementMessage("more-" + std::to_string(i), "c1", 10, 1));
    }
  }
  world.runUntilQuiet();
  const auto before = publishedOf<Counted>(world.transport);
  world.sendRaw("counters", first);
  world.runUntilQuiet();
  const auto after = publishedOf<Counted>(world.transport);
  REQUIRE(after.size() == before.size() + 1);
  REQUIRE(after.back().envelope == before.front().envelope);
  std::optional<CanonicalReader> payload;
  CanonicalReader envelope(after.back().envelope, "envelope");
  REQUIRE(payloadOf<Counted>(envelope, payload).getValue() == 1);
  requireOracles(world, {"counters"});
}

TEST_CASE("a no-op input gets a version but no new snapshot bytes, and its duplicate emits nothing",
          "[pipeline][duplicates]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  world.sendRaw("counters", incrementMessage("inc", "c1", 3, 0));
  Bytes ping = edgeMessage<Ping>({MessageId::forEdge("test", "ping"), "counters", {}},
                                 [](Ping::Builder m) { m.setCounterId("c1"); });
  world.sendRaw("counters", ping);
  world.runUntilQuiet();
  world.sendRaw("counters", ping);
  world.runUntilQuiet();
  REQUIRE(world.transport.published().empty());
  REQUIRE(world.endpoint("counters").stats().alreadyPublished == 1);
  world.closeAll();
  {
    store::VersionStore store(world.storeOf("counters"), "counters");
    auto stats = store.stats();
    REQUIRE(stats.historyEntries == 2);
    REQUIRE(stats.heads == 1);
  }
  requireOracles(world, {"counters"});
}

TEST_CASE("several outputs keep their order, ids and bytes when re-emitted",
          "[pipeline][determinism]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, replaying());
  Bytes inc = incrementMessage("many", "c1", 2, 5);
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  world.sendRaw("counters", incrementMessage("next", "c1", 1, 1));
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  auto counted = publishedOf<Counted>(world.transport);
  REQUIRE(counted.size() == 11);
  std::vector<Outbound> first(counted.begin(), counted.begin() + 5);
  std::vector<Outbound> again(counted.begin() + 6, counted.end());
  for (std::size_t i = 0; i < 5; ++i) {
    REQUIRE(first[i].envelope == again[i].envelope);
    std::optional<CanonicalReader> payload;
    CanonicalReader envelope(again[i].envelope, "envelope");
    REQUIRE(payloadOf<Counted>(envelope, payload).getIndex() == i);
    REQUIRE(std::count_if(first.begin(), first.end(),
                          [&](const Outbound& o) { return o.id == first[i].id; }) == 1);
  }
  requireOracles(world, {"counters"});
}

TEST_CASE("the same input handled by two endpoints yields different output ids",
          "[pipeline][determinism]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  world.add("counters-b", [] { return counterHandlers("counters-b"); });
  Bytes inc = incrementMessage("shared", "c1", 1, 1);
  world.sendRaw("counters", inc);
  world.sendRaw("counters-b", inc);
  world.runUntilQuiet();
  auto counted = publishedOf<Counted>(world.transport);
  REQUIRE(counted.size() == 2);
  REQUIRE(counted[0].id != counted[1].id);
  requireOracles(world, {"counters", "counters-b"});
}

TEST_CASE("a replay in a reopened endpoint emits identical bytes", "[pipeline][determinism]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, replaying());
  Bytes inc = incrementMessage("inc", "c1", 4, 3);
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  world.restart("counters");
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  auto counted = publishedOf<Counted>(world.transport);
  REQUIRE(counted.size() == 6);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(counted[i].envelope == counted[i + 3].envelope);
  requireOracles(world, {"counters"});
}

TEST_CASE("a handler with a hidden counter is caught as non-deterministic on a duplicate",
          "[pipeline][determinism]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  world.add(
      "counters", [knobs] { return counterHandlers("counters", knobs, true); }, replaying());
  Bytes inc = incrementMessage("inc", "c1", 1, 1);
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  REQUIRE(publishedOf<Counted>(world.transport).size() == 1);  // nothing emitted for the replay
  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 1);
  REQUIRE(errors[0].envelope == inc);
  CHECK_THAT(errors[0].report.reason, Catch::Contains("non-determinism") &&
                                          Catch::Contains("increment v1") &&
                                          Catch::Contains("counter/c1 version 1"));
  CHECK_THAT(errors[0].report.detail, Catch::Contains("digest"));
}

TEST_CASE("verifyDeterminism catches a hidden counter at its first run, naming the byte",
          "[pipeline][determinism]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  EndpointOptions options;
  options.verifyDeterminism = true;
  world.add(
      "counters", [knobs] { return counterHandlers("counters", knobs, true); }, options);
  world.sendRaw("counters", incrementMessage("inc", "c1", 1, 1));
  world.runUntilQuiet();
  REQUIRE(world.transport.published().empty());
  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].report.reason, Catch::Contains("non-deterministic handler increment v1"));
  CHECK_THAT(errors[0].report.detail, Catch::Contains("output 0 differs at byte"));
}

TEST_CASE("a changed handler version is refused when replaying what the old one recorded",
          "[pipeline][determinism]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, replaying());
  Bytes inc = incrementMessage("inc", "c1", 1, 1);
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  world.redeploy("counters", [] { return counterHandlers("counters", {}, false, 2); });
  world.sendRaw("counters", inc);
  world.runUntilQuiet();
  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 1);  // after its delayed retries (a process with v1 might take it)
  CHECK_THAT(errors[0].report.reason,
             Catch::Contains("increment v1") && Catch::Contains("not registered"));
}

TEST_CASE("malformed bytes, an unknown type and an oversized message go to the error queue",
          "[pipeline][bad-input]") {
  SimWorld world;
  EndpointOptions options;
  options.maxMessageBytes = 4096;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  Bytes garbage(64, std::byte{0x5A});
  world.sendRaw("counters", garbage);
  Bytes unknown = edgeMessage<Hit>({MessageId::forEdge("test", "hit"), "counters", {}},
                                   [](Hit::Builder m) { m.setTargetId("x"); });
  world.sendRaw("counters", unknown);
  Bytes big =
      edgeMessage<Increment>({MessageId::forEdge("test", "big"), "counters", {}},
                             [](Increment::Builder m) { m.setCounterId(std::string(10000, 'k')); });
  world.sendRaw("counters", big);
  Bytes good = incrementMessage("good", "c1", 1, 1);
  world.sendRaw("counters", good);
  world.runUntilQuiet();

  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].envelope == garbage);
  CHECK_THAT(errors[0].report.reason, Catch::Contains("envelope"));
  CHECK(errors[1].envelope == unknown);
  CHECK_THAT(errors[1].report.reason, Catch::Contains("unknown message type"));
  CHECK(errors[2].envelope == big);
  CHECK_THAT(errors[2].report.reason, Catch::Contains("oversized"));
  REQUIRE(world.endpoint("counters").stats().processed == 1);
  REQUIRE(publishedOf<Counted>(world.transport).size() == 1);
  requireOracles(world, {"counters"});
}

TEST_CASE("a malformed payload inside a valid envelope goes to the error queue with a reason",
          "[pipeline][bad-input]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  auto junk = kj::heapArray<capnp::word>(2);
  memset(static_cast<void*>(junk.begin()), 0xFF, junk.size() * sizeof(capnp::word));
  Bytes bad = edgeEnvelope({MessageId::forEdge("test", "junk"), "counters", {}},
                           capnp::typeId<Increment>(), junk.asPtr());
  world.sendRaw("counters", bad);
  world.runUntilQuiet();
  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].report.reason, Catch::Contains("payload of Increment"));
}

TEST_CASE("a throwing handler is retried, and succeeds once the failure passes",
          "[pipeline][recoverability]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  knobs->flakyFailuresLeft = 4;  // 3 immediate attempts fail, then one delayed retry fails
  world.add("counters", [knobs] { return counterHandlers("counters", knobs); });
  world.send<Flaky>("counters", "flaky", [](Flaky::Builder m) { m.setCounterId("c1"); });
  world.runUntilQuiet();
  REQUIRE(knobs->flakyFailuresLeft == 0);
  REQUIRE(world.transport.deadLetters("counters").empty());
  REQUIRE(world.endpoint("counters").stats().processed == 1);
  requireOracles(world, {"counters"});
}

TEST_CASE("a handler that keeps failing ends in the error queue with its exception text",
          "[pipeline][recoverability]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  knobs->flakyFailuresLeft = 1000;
  world.add("counters", [knobs] { return counterHandlers("counters", knobs); });
  world.send<Flaky>("counters", "flaky", [](Flaky::Builder m) { m.setCounterId("c1"); });
  world.runUntilQuiet();
  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].report.attempts == 4);  // the first delivery and 3 delayed retries
  CHECK_THAT(errors[0].report.reason, Catch::Contains("flaky failed this attempt"));
  CHECK(knobs->flakyFailuresLeft == 1000 - 4 * 3);
}

TEST_CASE("a permanent error from a handler goes to the error queue without retries",
          "[pipeline][recoverability]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  knobs->flakyFailuresLeft = 1000;
  world.add("counters", [knobs] { return counterHandlers("counters", knobs); });
  world.send<Flaky>("counters", "flaky", [](Flaky::Builder m) {
    m.setCounterId("c1");
    m.setPermanent(true);
  });
  world.runUntilQuiet();
  REQUIRE(world.transport.deadLetters("counters").size() == 1);
  CHECK(knobs->flakyFailuresLeft == 999);
}

TEST_CASE("with a snapshot every 4 versions, states are re-folded and replays still match",
          "[pipeline][snapshots]") {
  SimWorld world;
  EndpointOptions options = replaying();
  options.snapshotEvery = 4;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  std::vector<Bytes> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back(incrementMessage("inc-" + std::to_string(i), "c1", 1, 1));
    world.sendRaw("counters", sent.back());
  }
  world.runUntilQuiet();
  for (int i : {9, 5, 2}) world.sendRaw("counters", sent[static_cast<std::size_t>(i)]);
  world.runUntilQuiet();
  REQUIRE(world.endpoint("counters").stats().duplicates == 3);
  world.closeAll();
  {
    store::VersionStore store(world.storeOf("counters"), "counters");
    // States kept in the log: versions 4 and 8 (the head's is kept with the head).
    std::vector<std::uint64_t> withState;
    store.read([&](store::Txn& txn) {
      for (const std::uint64_t seq : store.retainedRecords(txn, 1)) {
        const auto record = store.findRecord(txn, seq);
        REQUIRE(record.has_value());
        if (record->state) withState.push_back(record->version);
      }
    });
    CHECK(withState == std::vector<std::uint64_t>{4, 8});
  }
  requireOracles(world, {"counters"});
}

TEST_CASE("context ids, randomness and time are derived from the input",
          "[pipeline][determinism]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  world.sendRaw("counters", incrementMessage("a", "c1", 1, 2));
  world.sendRaw("counters", incrementMessage("b", "c1", 1, 1));
  world.runUntilQuiet();
  auto counted = publishedOf<Counted>(world.transport);
  REQUIRE(counted.size() == 3);
  std::optional<CanonicalReader> p0, p1, p2;
  CanonicalReader e0(counted[0].envelope, "e"), e1(counted[1].envelope, "e"),
      e2(counted[2].envelope, "e");
  auto c0 = payloadOf<Counted>(e0, p0);
  auto c1 = payloadOf<Counted>(e1, p1);
  auto c2 = payloadOf<Counted>(e2, p2);
  CHECK(c0.getToken() != c1.getToken());  // newId() advances within a run
  CHECK(c0.getDice() != c1.getDice());    // so does random()
  CHECK(c0.getDice() != c2.getDice());    // and another input has another seed
  CHECK(c0.getAt() == std::chrono::duration_cast<std::chrono::nanoseconds>(
                          world.transport.now().time_since_epoch())
                          .count());
  // Output ids are time-ordered: their first 6 bytes are the recorded time in milliseconds.
  CHECK(std::equal(counted[0].id.bytes.begin(), counted[0].id.bytes.begin() + 6,
                   counted[2].id.bytes.begin()));
}

}  // namespace idem::test

namespace idem::test {

TEST_CASE("a time-ordered edge id starts with its creation time and is stable across retries",
          "[ids]") {
  const TimePoint created{std::chrono::milliseconds(0x0102'0304'0506) +
                          std::chrono::microseconds(7)};
  const MessageId id = MessageId::forEdge("shop", "form-17", created);
  CHECK(id == MessageId::forEdge("shop", "form-17", created));
  const std::array<std::uint8_t, 6> millis{1, 2, 3, 4, 5, 6};
  CHECK(std::equal(millis.begin(), millis.end(), id.bytes.begin()));
  // Then the first 10 bytes of the unordered edge id's digest.
  const MessageId unordered = MessageId::forEdge("shop", "form-17");
  CHECK(std::equal(id.bytes.begin() + 6, id.bytes.end(), unordered.bytes.begin()));
  // Later submissions sort after earlier ones whatever their keys.
  CHECK(MessageId::forEdge("shop", "a", created + std::chrono::milliseconds(1)) > id);
  CHECK(MessageId::forEdge("shop", "form-17", created + std::chrono::milliseconds(1)) != id);
}

TEST_CASE("an edge retry with another send time is replayed from the recorded input",
          "[pipeline][duplicates]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, replaying());
  const MessageId id = MessageId::forEdge("test", "form-17");
  auto fill = [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(2);
    m.setOutputs(1);
  };
  world.sendRaw("counters", edgeMessage<Increment>({id, "counters", TimePoint{}}, fill));
  world.runUntilQuiet();
  world.sendRaw("counters",
                edgeMessage<Increment>({id, "counters", TimePoint(std::chrono::hours(1))}, fill));
  world.runUntilQuiet();
  REQUIRE(world.transport.deadLetters("counters").empty());
  auto counted = publishedOf<Counted>(world.transport);
  REQUIRE(counted.size() == 2);
  REQUIRE(counted[0].envelope == counted[1].envelope);
  requireOracles(world, {"counters"});
}

}  // namespace idem::test

namespace idem::test {

TEST_CASE("an entity key too long for the store goes to the error queue, the batch proceeds",
          "[pipeline][bad-input]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  Bytes longKey = edgeMessage<Increment>({MessageId::forEdge("test", "long"), "counters", {}},
                                         [](Increment::Builder m) {
                                           m.setCounterId(std::string(600, 'k'));
                                           m.setBy(1);
                                         });
  world.sendRaw("counters", incrementMessage("before", "c1", 1, 1));
  world.sendRaw("counters", longKey);
  world.sendRaw("counters", incrementMessage("after", "c1", 1, 1));
  world.runUntilQuiet();
  const auto& errors = world.transport.deadLetters("counters");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].envelope == longKey);
  CHECK_THAT(errors[0].report.reason, Catch::Contains("exceeds the limit"));
  REQUIRE(world.endpoint("counters").stats().processed == 2);
  requireOracles(world, {"counters"});
}

}  // namespace idem::test
