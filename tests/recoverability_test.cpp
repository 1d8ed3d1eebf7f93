// Regression tests for the review's defects (issue "endpoints that halt for good, entities that
// freeze after a deploy, outputs that are lost"): each is named after what broke. Each exercises
// a path the old code took wrongly (an escaping exception, a dead letter, a wedge); that they
// fail without their fix is argued from the old code, not shown by reverting each fix.
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "store/version_store.h"
#include "tests/oracles.h"
#include "tests/peer_message.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

void requireOracles(SimWorld& world, const std::vector<std::string>& endpoints) {
  OracleReport report = checkOracles(world, endpoints);
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.empty());
  REQUIRE(report.historyEntries > 0);
}

// "target" entities whose PlaceTarget handler replies a Hit to the sender.
Handlers replierHandlers() {
  Handlers handlers("replier");
  handlers.entity<Target>("target").on<PlaceTarget>(
      {"place-and-reply", 1}, [](PlaceTarget::Reader m) { return std::string(m.getTargetId()); },
      [](Target::Builder target, PlaceTarget::Reader m, Context& ctx) {
        target.setPosition(m.getPosition());
        ctx.reply<Hit>().setTargetId(m.getTargetId());
      });
  return handlers;
}

// Receives the replies.
Handlers callerHandlers() {
  Handlers handlers("caller");
  handlers.entity<Target>("target").on<Hit>(
      {"caller-hit", 1}, [](Hit::Reader m) { return std::string(m.getTargetId()); },
      [](Target::Builder target, Hit::Reader, Context&) { target.setHits(target.getHits() + 1); });
  return handlers;
}

// A PlaceTarget envelope from endpoint `source` (as a peer would send it).
Bytes placeTargetFrom(const std::string& source, const std::string& key, const std::string& target,
                      TimePoint at) {
  return sentBy<PlaceTarget>(source, "replier", key, at, [&](PlaceTarget::Builder m) {
    m.setTargetId(target);
    m.setPosition(7);
  });
}

std::optional<store::Applied> appliedIn(const std::filesystem::path& dir,
                                        const std::string& endpoint, const MessageId& id) {
  store::VersionStore store(dir, endpoint);
  std::optional<store::Applied> applied;
  store.read([&](store::Txn& txn) { applied = store.findApplied(txn, id); });
  return applied;
}

std::uint64_t counterValue(const std::filesystem::path& dir, const std::string& key) {
  store::VersionStore store(dir, "counters");
  std::uint64_t value = 0;
  store.read([&](store::Txn& txn) {
    auto entity = store.findEntity(txn, "counter", key);
    REQUIRE(entity);
    auto snapshot = store.findSnapshotAtOrBefore(txn, *entity, store.headVersion(txn, *entity));
    REQUIRE(snapshot);
    CanonicalReader state(snapshot->state, "state");
    value = state.root<Counter>().getValue();
  });
  return value;
}

template <typename Fill>
MessageId sendIncrement(SimWorld& world, const std::string& key, Fill fill) {
  return world.send<Increment>("counters", key, fill);
}

}  // namespace

TEST_CASE(
    "a reply to a source no transport accepts goes to the error queue, and the endpoint "
    "keeps processing",
    "[recoverability][regression]") {
  SimWorld world;
  world.add("replier", replierHandlers);
  world.add("caller", callerHandlers);
  const std::string longSource(300, 's');
  world.sendRaw("replier", placeTargetFrom(longSource, "bad", "t1", world.transport.now()));
  world.sendRaw("replier", placeTargetFrom("caller", "good", "t2", world.transport.now()));
  world.runUntilQuiet();

  const auto& dead = world.transport.deadLetters("replier");
  REQUIRE(dead.size() == 1);
  CHECK_THAT(dead[0].report.reason,
             Catch::Contains("can never accept") && Catch::Contains("invalid endpoint name"));
  CHECK_THAT(dead[0].report.detail, Catch::Contains("nothing was committed"));
  world.closeAll();
  // Nothing of the refused run was committed; the good input was, and its reply arrived.
  CHECK_FALSE(appliedIn(world.storeOf("replier"), "replier", MessageId::forEdge("test", "bad")));
  CHECK(appliedIn(world.storeOf("replier"), "replier", MessageId::forEdge("test", "good")));
  requireOracles(world, {"replier", "caller"});
}

TEST_CASE("an output over maxMessageBytes fails its handler's run before anything is committed",
          "[recoverability][regression]") {
  SimWorld world;
  const std::string forward = "sink-with-a-long-name-" + std::string(80, 'x');
  auto fill = [&](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(1);
    m.setOutputs(1);
    m.setForward(forward);
  };
  const Bytes probe = edgeMessage<Increment>(
      {MessageId::forEdge("test", "big"), "counters", world.transport.now()}, fill);
  EndpointOptions options;
  options.maxMessageBytes = probe.size();  // the input fits; its output (ids, causation) is larger
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  const MessageId id = sendIncrement(world, "big", fill);
  world.runUntilQuiet();

  const auto& dead = world.transport.deadLetters("counters");
  REQUIRE(dead.size() == 1);
  CHECK_THAT(dead[0].report.reason, Catch::Contains("maxMessageBytes"));
  CHECK(world.transport.published().empty());
  world.closeAll();
  CHECK_FALSE(appliedIn(world.storeOf("counters"), "counters", id));
}

TEST_CASE(
    "outputs the transport refuses after their commit stay owed in the error queue, the "
    "other inputs flow, and a retry re-emits them",
    "[recoverability][regression]") {
  SimWorld world;
  world.add("counters", [] { return counterHandlers("counters"); });
  world.add("sink", [] { return sinkHandlers("sink"); });
  world.add("blocked", [] { return sinkHandlers("blocked"); });
  // The transport's limits changed after the checks: it refuses what goes to "blocked".
  world.transport.publishRule = [](const Outbound& m) -> std::optional<std::string> {
    if (m.destination == "blocked") return "stream of 'blocked' was deleted";
    return std::nullopt;
  };
  const MessageId refused = sendIncrement(world, "to-blocked", [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(5);
    m.setOutputs(2);
    m.setForward("blocked");
  });
  for (int i = 0; i < 3; ++i) {
    sendIncrement(world, "to-sink-" + std::to_string(i), [](Increment::Builder m) {
      m.setCounterId("c2");
      m.setBy(1);
      m.setOutputs(1);
      m.setForward("sink");
    });
  }
  world.runUntilQuiet();

  const auto dead = world.transport.deadLetters("counters");
  REQUIRE(dead.size() == 1);
  CHECK_THAT(dead[0].report.reason,
             Catch::Contains("outputs of committed version counter/c1 version 1 refused") &&
                 Catch::Contains("stream of 'blocked' was deleted"));
  CHECK_THAT(dead[0].report.detail, Catch::Contains("still owed"));
  CHECK(world.endpoint("counters").stats().processed == 4);
  CHECK(world.endpoint("sink").stats().processed == 3);  // the others kept flowing
  CHECK(world.endpoint("blocked").stats().processed == 0);

  // The operator fixes the transport and retries the entry: the committed version's outputs are
  // re-emitted (a duplicate, replayed against the version it produced), not re-processed.
  world.transport.publishRule = {};
  world.sendRaw("counters", dead[0].envelope);
  world.runUntilQuiet();
  CHECK(world.endpoint("blocked").stats().processed == 2);
  CHECK(world.endpoint("counters").stats().duplicates == 1);
  CHECK(world.transport.deadLetters("counters").size() == 1);  // no new entry
  world.closeAll();
  REQUIRE(appliedIn(world.storeOf("counters"), "counters", refused)->version == 1);
  requireOracles(world, {"counters", "sink", "blocked"});
}

TEST_CASE("a retired handler version no longer freezes its entities when snapshotEvery > 1",
          "[recoverability][regression]") {
  SimWorld world;
  EndpointOptions options;
  options.snapshotEvery = 4;
  world.add(
      "counters", [] { return counterHandlers("counters", {}, false, 1); }, options);
  auto increment = [&](const std::string& key, std::uint32_t by) {
    return sendIncrement(world, key, [by](Increment::Builder m) {
      m.setCounterId("c1");
      m.setBy(by);
    });
  };
  increment("i1", 1);
  increment("i2", 2);
  increment("i3", 3);
  world.runUntilQuiet();
  // The deploy retires increment v1: versions 2 and 3 have no policy snapshot, and loading the
  // head used to fold them through v1, which was gone.
  world.redeploy("counters", [] { return counterHandlers("counters", {}, false, 2); });
  increment("i4", 4);
  world.runUntilQuiet();
  CHECK(world.transport.deadLetters("counters").empty());
  CHECK(world.endpoint("counters").stats().processed == 1);
  world.closeAll();
  CHECK(counterValue(world.storeOf("counters"), "c1") == 10);
}

TEST_CASE(
    "a duplicate recorded by a retired version replays with a replay-only registration and "
    "waits in retries without one",
    "[recoverability][regression]") {
  SimWorld world;
  EndpointOptions options;
  options.snapshotEvery = 4;
  options.replayPublishedDuplicates = true;  // re-run even confirmed duplicates: bytes compared
  options.retry.delayedRetries = 1;
  world.add(
      "counters", [] { return counterHandlers("counters", {}, false, 1); }, options);
  for (int i = 1; i <= 3; ++i) {
    sendIncrement(world, "i" + std::to_string(i), [i](Increment::Builder m) {
      m.setCounterId("c1");
      m.setBy(static_cast<std::uint32_t>(i));
      m.setOutputs(1);
    });
  }
  world.runUntilQuiet();
  const Bytes second =
      edgeMessage<Increment>({MessageId::forEdge("test", "i2"), "counters", world.transport.now()},
                             [](Increment::Builder m) {
                               m.setCounterId("c1");
                               m.setBy(2);
                               m.setOutputs(1);
                             });

  SECTION("v2 with v1 kept for replay: the duplicate re-emits the bytes v1 recorded") {
    world.redeploy("counters", [] { return counterHandlersAfterDeploy("counters", 2, {1}); });
    world.sendRaw("counters", second);
    world.runUntilQuiet();
    CHECK(world.transport.deadLetters("counters").empty());
    CHECK(world.endpoint("counters").stats().duplicates == 1);
    requireOracles(world, {"counters"});
  }
  SECTION("v2 alone: the duplicate is retried, then goes to the error queue, naming the fix") {
    world.redeploy("counters", [] { return counterHandlers("counters", {}, false, 2); });
    world.sendRaw("counters", second);
    world.runUntilQuiet();
    const auto& dead = world.transport.deadLetters("counters");
    REQUIRE(dead.size() == 1);
    CHECK_THAT(dead[0].report.reason,
               Catch::Contains("increment v1") && Catch::Contains("replayOnly"));
    CHECK(world.endpoint("counters").stats().retried >= 1);
  }
}

TEST_CASE(
    "a handler that throws on its second run under verifyDeterminism is a failed attempt, "
    "not a crash",
    "[recoverability][regression]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  knobs->failingIncrementRuns = {2};  // the first run succeeds, the determinism check throws
  EndpointOptions options;
  options.verifyDeterminism = true;
  options.retry.immediateRetries = 0;
  world.add(
      "counters", [knobs] { return counterHandlers("counters", knobs); }, options);
  sendIncrement(world, "i1", [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(1);
  });
  REQUIRE_NOTHROW(world.runUntilQuiet());
  CHECK(world.endpoint("counters").stats().retried == 1);
  CHECK(world.endpoint("counters").stats().processed == 1);
  CHECK(world.transport.deadLetters("counters").empty());
  CHECK(knobs->incrementRuns == 4);  // two runs per attempt
  requireOracles(world, {"counters"});
}

TEST_CASE("handler code that throws while a state is folded is a failed attempt, not a crash",
          "[recoverability][regression]") {
  SimWorld world;
  auto knobs = std::make_shared<CounterKnobs>();
  EndpointOptions options;
  options.snapshotEvery = 4;
  options.replayPublishedDuplicates = true;
  world.add(
      "counters", [knobs] { return counterHandlers("counters", knobs); }, options);
  for (int i = 1; i <= 3; ++i) {
    sendIncrement(world, "i" + std::to_string(i), [](Increment::Builder m) {
      m.setCounterId("c1");
      m.setBy(1);
    });
  }
  world.runUntilQuiet();
  // A copy of the third input: its state before (version 2) is folded from the snapshot at 1
  // through version 2's handler, which now throws once.
  knobs->failingIncrementRuns = {knobs->incrementRuns + 1};
  world.sendRaw("counters", edgeMessage<Increment>({MessageId::forEdge("test", "i3"), "counters",
                                                    world.transport.now()},
                                                   [](Increment::Builder m) {
                                                     m.setCounterId("c1");
                                                     m.setBy(1);
                                                   }));
  REQUIRE_NOTHROW(world.runUntilQuiet());
  CHECK(world.endpoint("counters").stats().retried == 1);
  CHECK(world.endpoint("counters").stats().duplicates == 1);
  CHECK(world.transport.deadLetters("counters").empty());
  requireOracles(world, {"counters"});
}

namespace {
// "reader" entities keyed by counter id whose Counted handler reads the token three times.
Handlers readerHandlers() {
  Handlers handlers("reader");
  handlers.entity<Counter>("reader").on<Counted>(
      {"read-three-times", 1}, [](Counted::Reader m) { return std::string(m.getCounterId()); },
      [](Counter::Builder state, Counted::Reader m, Context&) {
        std::uint64_t sum = 0;
        for (int read = 0; read < 3; ++read) {
          for (auto b : m.getToken()) sum += b;
        }
        state.setValue(state.getValue() + sum);
      });
  return handlers;
}
}  // namespace

TEST_CASE("a handler that reads a large field three times is not failed by the traversal limit",
          "[recoverability][regression]") {
  const bool verify = GENERATE(false, true);
  SimWorld world;
  EndpointOptions options;
  options.verifyDeterminism = verify;
  world.add("reader", readerHandlers, options);
  const std::string token(2000, 'x');
  world.send<Counted>("reader", "big", [&](Counted::Builder m) {
    m.setCounterId("r1");
    m.setToken(kj::arrayPtr(reinterpret_cast<const kj::byte*>(token.data()), token.size()));
  });
  world.runUntilQuiet();
  INFO("verifyDeterminism " << verify);
  CHECK(world.transport.deadLetters("reader").empty());
  CHECK(world.endpoint("reader").stats().processed == 1);
  CHECK(world.endpoint("reader").stats().retried == 0);
}

namespace {
// "bouncer" entities: each Increment with by > 0 is answered by an Increment with by - 1 sent
// back to the endpoint named in `forward` (request/reply between two endpoints).
Handlers bouncerHandlers(const std::string& endpoint) {
  Handlers handlers(endpoint);
  handlers.entity<Counter>("bouncer").on<Increment>(
      {"bounce", 1}, [](Increment::Reader m) { return std::string(m.getCounterId()); },
      [](Counter::Builder state, Increment::Reader m, Context& ctx) {
        state.setValue(state.getValue() + 1);
        if (m.getBy() == 0) return;
        auto next = ctx.send<Increment>(m.getForward().cStr());
        next.setCounterId(m.getCounterId());
        next.setBy(m.getBy() - 1);
        next.setForward(std::string(ctx.endpointName()));
      });
  return handlers;
}
}  // namespace

TEST_CASE(
    "two endpoints that send to each other with both queues at maxDepth drain instead of "
    "holding each other full",
    "[recoverability][regression][bus]") {
  TempDir dir("idem-cycle");
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = dir / "bus";
  busOptions.durable = false;
  busOptions.maxDepth = 8;
  EmbeddedTransport bus(busOptions);
  EndpointOptions options;
  options.durable = false;
  options.batchSize = 4;
  options.batchWait = std::chrono::milliseconds(0);
  options.storeDirectory = dir / "a";
  Endpoint a(bouncerHandlers("a"), bus, options);
  options.storeDirectory = dir / "b";
  Endpoint b(bouncerHandlers("b"), bus, options);
  // Both queues full of edge messages (the limit holds for these), each starting three bounces.
  for (const auto& [to, from] : {std::pair{"a", "b"}, std::pair{"b", "a"}}) {
    std::vector<Outbound> fill;
    for (int i = 0; i < 8; ++i) {
      const std::string key = std::string(to) + "-" + std::to_string(i);
      const EdgeAddress address{MessageId::forEdge("test", key), to, TimePoint{}};
      fill.push_back(edgeOutbound(address, capnp::typeId<Increment>(),
                                  edgeMessage<Increment>(address, [&](Increment::Builder m) {
                                    m.setCounterId(key);
                                    m.setBy(3);
                                    m.setForward(from);
                                  })));
    }
    bus.publish(fill);
  }
  // One more edge message is refused: back-pressure still applies at the edge.
  const EdgeAddress extra{MessageId::forEdge("test", "extra"), "a", TimePoint{}};
  const std::vector<Outbound> more{edgeOutbound(
      extra, capnp::typeId<Increment>(),
      edgeMessage<Increment>(extra, [](Increment::Builder m) { m.setCounterId("extra"); }))};
  try {
    bus.publish(more);
    FAIL("a publish past maxDepth was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kOverloaded);
  }

  for (int round = 0; round < 200; ++round) {
    a.processBatch();
    b.processBatch();
    if (bus.queue("a").ready + bus.queue("a").inFlight + bus.queue("b").ready +
            bus.queue("b").inFlight ==
        0) {
      break;
    }
  }
  CHECK(bus.queue("a").ready + bus.queue("a").inFlight == 0);
  CHECK(bus.queue("b").ready + bus.queue("b").inFlight == 0);
  // 16 starts, each bouncing three times: 64 inputs processed in all.
  CHECK(a.stats().processed + b.stats().processed == 64);
}

TEST_CASE(
    "a restarted endpoint re-emits the versions whose confirmation a dead process lost, so "
    "they stop blocking retention",
    "[recoverability][regression]") {
  SimWorld world;
  EndpointOptions options;
  options.reemitOwedAfter = std::chrono::milliseconds(1000);
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  world.add("sink", [] { return sinkHandlers("sink"); });
  for (int i = 0; i < 5; ++i) {
    sendIncrement(world, "i" + std::to_string(i), [](Increment::Builder m) {
      m.setCounterId("c1");
      m.setBy(1);
      m.setOutputs(2);
      m.setForward("sink");
    });
  }
  // One batch published and acked; the process dies before its next write records that.
  REQUIRE(world.endpoint("counters").processBatch() == 5);
  const std::size_t firstCopies = world.transport.published().size();
  world.restart("counters");
  {
    world.closeAll();
    store::VersionStore store(world.storeOf("counters"), "counters");
    REQUIRE(store.stats().unpublished == 5);
  }
  world.restart("counters");
  world.restart("sink");
  world.runUntilQuiet();  // the sink takes the first copies; the owed versions are too young
  CHECK(world.endpoint("counters").stats().reemittedOwed == 0);
  world.transport.advance(std::chrono::milliseconds(1000));
  world.runUntilQuiet();
  CHECK(world.endpoint("counters").stats().reemittedOwed == 5);
  CHECK(world.transport.published().size() == 2 * firstCopies);  // each output once more
  world.closeAll();
  {
    store::VersionStore store(world.storeOf("counters"), "counters");
    CHECK(store.stats().unpublished == 0);
  }
  requireOracles(world, {"counters", "sink"});
}

}  // namespace idem::test
