// include/idem/testing.h on the core tests' endpoints: duplicates, non-determinism, crashes at
// each step, JSON.
#include <idem/error.h>
#include <idem/testing.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

using testing::Harness;
using testing::Run;

auto place(const char* id, int position) {
  return [=](PlaceTarget::Builder m) {
    m.setTargetId(id);
    m.setPosition(position);
  };
}
auto fire(const char* id, int position) {
  return [=](Fire::Builder m) {
    m.setTargetId(id);
    m.setPosition(position);
  };
}
auto increment(const char* counter, std::uint32_t outputs, const char* forward = "sink") {
  return [=](Increment::Builder m) {
    m.setCounterId(counter);
    m.setBy(5);
    m.setOutputs(outputs);
    m.setForward(forward);
  };
}

TEST_CASE("a duplicate re-runs on the version its first copy saw and re-emits the same bytes",
          "[testing]") {
  Handlers gallery = galleryHandlers();
  Harness h({&gallery});
  h.send<PlaceTarget>("gallery", place("t", 3));
  Run shot = h.send<Fire>("gallery", fire("t", 3));
  REQUIRE(shot.only<Hit>().as<Hit>().getShot() == 1);
  h.send<PlaceTarget>("gallery", place("t", 5));  // the target moves

  Run again = h.redeliver(shot);
  CHECK(again.duplicate);
  CHECK(again.version == 2);
  CHECK(again.outputs.at(0).envelope == shot.outputs.at(0).envelope);  // Hit, never Missed
  CHECK(h.version("gallery", "target", "t") == 3);                     // nothing recorded
  CHECK(h.state<Target>("gallery", "target", "t").getShots() == 1);
  CHECK(h.published().size() == 2);  // the Hit, and its re-emission
}

TEST_CASE("states and outputs read as their types and as JSON, and JSON goes in", "[testing]") {
  Handlers counters = counterHandlers("counters");
  Harness h({&counters});
  h.addSchema<Counted>();  // only the sink handles it, which is not in this harness

  Run run = h.sendJson("counters", "Increment",
                       R"({"counterId": "c1", "by": 7, "outputs": 1, "forward": "sink"})");
  CHECK(run.entityKey == "c1");
  CHECK(run.state.as<Counter>().getValue() == 7);
  CHECK(run.state.json() == R"({"value":"7","history":["7"]})");
  CHECK(run.before.json() == R"({"value":"0"})");  // the initial state
  CHECK(run.only<Counted>().as<Counted>().getValue() == 7);
  CHECK(run.outputs.at(0).json().find(R"("counterId":"c1")") != std::string::npos);
  CHECK(run.outputs.at(0).destination == "sink");
  CHECK(run.outputs.at(0).source == "counters");

  Run pure = h.runOnJson("counters", R"({"value": "100"})", "Increment",
                         R"({"counterId": "c1", "by": 1})");
  CHECK(pure.state.as<Counter>().getValue() == 101);
  CHECK(pure.version == 0);
  CHECK(h.version("counters", "counter", "c1") == 1);  // runOn records nothing
  CHECK_THROWS_AS(h.sendJson("counters", "Increment", R"({"countrId": "c1"})"), Error);
  CHECK_THROWS_AS(h.sendJson("counters", "Nothing", "{}"), std::logic_error);
}

TEST_CASE("a handler that reads hidden state fails the first run that checks it", "[testing]") {
  auto knobs = std::make_shared<CounterKnobs>();
  Handlers counters = counterHandlers("counters", knobs, /*hiddenCounter=*/true);

  SECTION("at its first copy, which runs twice") {
    Harness h({&counters});
    CHECK_THROWS_WITH(h.send<Increment>("counters", increment("c1", 1)),
                      Catch::Contains("non-deterministic handler increment v1") &&
                          Catch::Contains("output 0 differs at byte"));
    CHECK(h.version("counters", "counter", "c1") == 0);
  }
  SECTION("at a duplicate") {
    Harness h({&counters}, {.verifyDeterminism = false});
    Run first = h.send<Increment>("counters", increment("c1", 1));
    CHECK_THROWS_WITH(h.redeliver(first),
                      Catch::Contains("non-determinism: handler increment v1 re-run on "
                                      "counter/c1 version 1"));
    CHECK_THROWS_WITH(h.rerun(first), Catch::Contains("output 0 differs at byte"));
  }
  SECTION("at each crash") {
    Harness h({&counters}, {.verifyDeterminism = false});
    CHECK_THROWS_WITH(h.checkCrashAtEachStep<Increment>("counters", increment("c1", 1)),
                      Catch::Contains("after a crash at in-handler"));
  }
}

TEST_CASE("a crash at each step ends with one version and the crash-free run's outputs",
          "[testing][crash]") {
  Handlers counters = counterHandlers("counters");
  Handlers sink = sinkHandlers("sink");
  Harness h({&counters, &sink});
  h.send<Increment>("counters", increment("c1", 1));

  testing::CrashCheck check = h.checkCrashAtEachStep<Increment>("counters", increment("c1", 2));
  REQUIRE(check.crashes.size() == 5);
  for (const testing::CrashOutcome& crash : check.crashes) {
    INFO(toString(crash.point));
    const bool committed =
        crash.point != FaultPoint::kInHandler && crash.point != FaultPoint::kBeforeCommit;
    const bool published =
        crash.point == FaultPoint::kAfterPublish || crash.point == FaultPoint::kBeforeAck;
    CHECK(crash.recovery.duplicate == committed);
    CHECK(crash.published.size() == (published ? 4 : 2));  // 2 outputs, re-emitted after publish
  }
  CHECK(h.version("counters", "counter", "c1") == 2);  // the harness holds the crash-free run
  CHECK(h.state<Counter>("counters", "counter", "c1").getValue() == 10);

  // Downstream, both copies of an output re-published after a crash count once.
  const testing::Output& counted = check.crashes.back().published.at(0);
  h.deliver(counted);
  CHECK(h.deliver(check.crashes.back().published.at(2)).duplicate);
  CHECK(h.state<Counter>("sink", "sink", "c1").getValue() == counted.as<Counted>().getValue());
}

TEST_CASE("an armed crash stops the delivery at its step, and recover() delivers it again",
          "[testing][crash]") {
  Handlers counters = counterHandlers("counters");
  Harness h({&counters});
  h.crashAt(FaultPoint::kAfterCommit);
  CHECK_THROWS_AS(h.send<Increment>("counters", increment("c1", 1)), testing::Crash);
  CHECK(h.version("counters", "counter", "c1") == 1);  // committed...
  CHECK(h.published().empty());                        // ...and owed

  std::vector<Run> recovered = h.recover();
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].duplicate);
  CHECK(h.published().size() == 1);
  CHECK(h.recover().empty());
}

TEST_CASE("a handler that throws records nothing, and its next attempt runs on the same state",
          "[testing]") {
  auto knobs = std::make_shared<CounterKnobs>();
  knobs->flakyFailuresLeft = 1;
  Handlers counters = counterHandlers("counters", knobs);
  Harness h({&counters});
  auto flaky = [](Flaky::Builder m) { m.setCounterId("c1"); };
  const MessageId id = MessageId::forEdge("test", "flaky");
  CHECK_THROWS_AS(h.send<Flaky>("counters", flaky, {.id = id}), std::runtime_error);
  CHECK(h.version("counters", "counter", "c1") == 0);
  Run run = h.send<Flaky>("counters", flaky, {.id = id});
  CHECK_FALSE(run.duplicate);
  CHECK(run.state.as<Counter>().getValue() == 1000);
}

TEST_CASE("an input no handler takes is refused as permanent; an unknown endpoint is a mistake",
          "[testing]") {
  Handlers counters = counterHandlers("counters");
  Harness h({&counters});
  CHECK_THROWS_AS(h.send<Fire>("counters", fire("t", 1)), Error);
  CHECK_THROWS_AS(h.send<Fire>("nowhere", fire("t", 1)), std::logic_error);
}

}  // namespace
}  // namespace idem::test
