// Retention: what the version store prunes inside the endpoint's batch transactions, what it
// keeps, what late duplicates meet at each age, and what the tools say about pruned history.
// Time is the simulation transport's virtual clock: nothing sleeps.
#include <catch2/catch.hpp>
#include <set>
#include <stop_token>
#include <string>

#include "framework/state_loader.h"
#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "store/version_store.h"
#include "tests/oracles.h"
#include "tests/sim_world.h"
#include "tests/test_endpoints.h"
#include "tools/apps.h"
#include "tools/store_audit.h"
#include "tools/store_view.h"
#include "tools/what_if.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kHistoryHorizon = std::chrono::hours(1);
constexpr auto kAppliedHorizon = std::chrono::hours(3);

EndpointOptions retaining(bool replayPublished = false) {
  EndpointOptions options;
  options.retention.historyHorizon = kHistoryHorizon;
  options.retention.appliedHorizon = kAppliedHorizon;
  options.replayPublishedDuplicates = replayPublished;
  return options;
}

// Increment `counter` by `by` with one Counted output; the id comes from `key`, the envelope's
// recorded time is the world's now (so resending the returned bytes is a true copy).
Bytes increment(SimWorld& world, const std::string& key, const std::string& counter,
                std::uint32_t by = 1) {
  return edgeMessage<Increment>(
      {MessageId::forEdge("test", key), "counters", world.transport.now()},
      [&](Increment::Builder m) {
        m.setCounterId(counter);
        m.setBy(by);
        m.setOutputs(1);
      });
}

Bytes ping(SimWorld& world, const std::string& key, const std::string& counter) {
  return edgeMessage<Ping>({MessageId::forEdge("test", key), "counters", world.transport.now()},
                           [&](Ping::Builder m) { m.setCounterId(counter); });
}

std::size_t countedPublished(const SimWorld& world) {
  std::size_t n = 0;
  for (const Outbound& m : world.transport.published()) {
    if (m.messageType == capnp::typeId<Counted>()) ++n;
  }
  return n;
}

// Facts about one entity of a closed store.
struct EntityFacts {
  std::uint64_t head = 0;
  std::uint64_t firstRetained = 0;
  std::set<std::uint64_t> history;    // versions with a log record
  std::set<std::uint64_t> snapshots;  // versions with a stored state: inline, base or head
  std::uint64_t value = 0;            // Counter.value loaded at the head
};

EntityFacts factsOf(SimWorld& world, const std::string& counter) {
  world.closeAll();
  Handlers handlers = counterHandlers("counters");
  store::VersionStore store(world.storeOf("counters"), "counters");
  detail::StateLoader loader(store, handlers);
  EntityFacts facts;
  store.read([&](store::Txn& txn) {
    const auto entity = store.findEntity(txn, "counter", counter);
    REQUIRE(entity);
    facts.head = store.headVersion(txn, *entity);
    facts.firstRetained = store.firstRetainedVersion(txn, *entity);
    for (const std::uint64_t seq : store.retainedRecords(txn, *entity)) {
      const auto record = store.findRecord(txn, seq);
      REQUIRE(record.has_value());
      facts.history.insert(record->version);
      if (record->state) facts.snapshots.insert(record->version);
    }
    if (auto base = store.findBase(txn, *entity)) facts.snapshots.insert(base->version);
    facts.snapshots.insert(facts.head);
    detail::LoadedState state = loader.load(txn, *entity, facts.head);
    CanonicalReader reader(asBytes(state.words()), "state");
    facts.value = reader.root<Counter>().getValue();
  });
  return facts;
}

void reopen(SimWorld& world) { world.restart("counters"); }

// Five increments of c1 (values 1..5, versions 1..5), then `wait`, then a sixth (version 6) in a
// batch of its own, whose transaction prunes what the policy allows.
void fiveThenOneAfter(SimWorld& world, std::chrono::milliseconds wait) {
  for (int i = 1; i <= 5; ++i) {
    world.sendRaw("counters", increment(world, "inc-" + std::to_string(i), "c1"));
    world.runUntilQuiet();  // one batch per version
  }
  world.transport.advance(wait);
  world.sendRaw("counters", increment(world, "inc-6", "c1"));
  world.runUntilQuiet();
}

std::set<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::set<std::uint64_t> out;
  for (std::uint64_t v = from; v <= to; ++v) out.insert(v);
  return out;
}

tools::App counterApp() {
  return tools::App{"counters",
                    {{"counters",
                      [](Handlers& handlers) {
                        const Handlers made = counterHandlers(handlers.endpointName());
                        for (const auto& h : made.all()) handlers.add(*h);
                      }},
                     {"sink", [](Handlers& handlers) { addSinkHandlers(handlers); }}},
                    nullptr};
}

// DESIGN.md §4's oracles over the pruned store (tests/oracles.h: copies and acked inputs of
// pruned versions are counted, not re-derived). Closes the world's endpoints.
OracleReport requireOracles(SimWorld& world, const std::string& endpoint = "counters") {
  OracleReport report = checkOracles(world, {endpoint});
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.empty());
  return report;
}

}  // namespace

TEST_CASE("retention prunes old published versions and the state stays loadable and correct",
          "[retention]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining());
  fiveThenOneAfter(world, 2h);
  const EndpointStats stats = world.endpoint("counters").stats();
  CHECK(stats.prunedVersions == 5);
  const EntityFacts facts = factsOf(world, "c1");
  CHECK(facts.head == 6);
  CHECK(facts.firstRetained == 6);
  CHECK(facts.history == std::set<std::uint64_t>{6});
  CHECK(facts.snapshots == std::set<std::uint64_t>{5, 6});  // the base below the kept history
  CHECK(facts.value == 6);

  // The next version folds on from there.
  reopen(world);
  world.sendRaw("counters", increment(world, "inc-7", "c1", 10));
  world.runUntilQuiet();
  CHECK(factsOf(world, "c1").value == 16);
  const OracleReport report = requireOracles(world);
  CHECK(report.historyEntries == 2);
  CHECK(report.copiesOfPrunedVersions == 5);  // the Counted of versions 1..5
  CHECK(report.outputsDerived == 2);
}

TEST_CASE("retention keeps versions within the horizon", "[retention]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining());
  fiveThenOneAfter(world, 30min);
  CHECK(world.endpoint("counters").stats().prunedVersions == 0);
  const EntityFacts facts = factsOf(world, "c1");
  CHECK(facts.firstRetained == 1);
  CHECK(facts.history == range(1, 6));
  CHECK(facts.value == 6);
  const OracleReport report = requireOracles(world);
  CHECK(report.copiesOfPrunedVersions == 0);
  CHECK(report.outputsDerived == 6);
}

TEST_CASE(
    "retention never prunes a version whose outputs are not confirmed published, nor what "
    "follows it",
    "[retention]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining());
  for (int i = 1; i <= 5; ++i) {
    world.sendRaw("counters", increment(world, "inc-" + std::to_string(i), "c1"));
    world.runUntilQuiet();
  }
  world.closeAll();
  {
    // As if version 3's confirmation had been lost (a process killed between ack and the next
    // batch): its input stays in the publication set. The others are confirmed.
    store::VersionStore store(world.storeOf("counters"), "counters");
    store.write([&](store::Txn& txn) {
      for (int i = 1; i <= 5; ++i) {
        store.markPublished(txn, MessageId::forEdge("test", "inc-" + std::to_string(i)));
      }
      store.markUnpublished(txn, MessageId::forEdge("test", "inc-3"));
    });
  }
  // The reopened endpoint re-emits what the store says is owed (Pipeline::reemitOwed); the
  // transport refuses version 3's outputs, so they stay owed.
  const MessageId third = MessageId::forEdge("test", "inc-3");
  world.transport.publishRule = [third](const Outbound& m) -> std::optional<std::string> {
    CanonicalReader envelope(m.envelope, "envelope");
    auto cause = envelope.root<wire::Envelope>().getCausationId();
    if (MessageId::fromBytes({cause.begin(), cause.size()}) == third) return "refused";
    return std::nullopt;
  };
  reopen(world);
  world.transport.advance(2h);
  world.sendRaw("counters", increment(world, "inc-6", "c1"));
  world.runUntilQuiet();  // the first batch after opening prunes nothing
  CHECK(world.endpoint("counters").stats().prunedVersions == 0);
  world.sendRaw("counters", increment(world, "inc-7", "c1"));
  world.runUntilQuiet();
  CHECK(world.endpoint("counters").stats().prunedVersions == 2);
  const EntityFacts facts = factsOf(world, "c1");
  CHECK(facts.firstRetained == 3);  // 1 and 2 went; 3 is owed to the transport, so it stays
  CHECK(facts.history == range(3, 7));
  CHECK(facts.snapshots.count(2) == 1);
  CHECK(facts.value == 7);
  CHECK(requireOracles(world).copiesOfPrunedVersions == 2);
}

TEST_CASE("an unchanged version at the prune boundary becomes the base with the state it kept",
          "[retention]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining());
  world.sendRaw("counters", increment(world, "inc-1", "c1", 7));  // v1, snapshot
  world.runUntilQuiet();
  world.sendRaw("counters", ping(world, "ping-2", "c1"));  // v2, unchanged: no snapshot
  world.runUntilQuiet();
  world.sendRaw("counters", ping(world, "ping-3", "c1"));  // v3, unchanged
  world.runUntilQuiet();
  world.transport.advance(2h);
  world.sendRaw("counters", ping(world, "ping-4", "c1"));  // v4, the head
  world.runUntilQuiet();
  const EntityFacts facts = factsOf(world, "c1");
  CHECK(facts.firstRetained == 4);
  CHECK(facts.history == std::set<std::uint64_t>{4});
  CHECK(facts.snapshots == std::set<std::uint64_t>{3, 4});  // v1's state as v3's base; the head
  CHECK(facts.value == 7);
  CHECK(requireOracles(world).copiesOfPrunedVersions == 1);  // v1's Counted; pings emit none
}

TEST_CASE(
    "with a state every K versions, retention re-derives the state of the records it removes "
    "that carry none",
    "[retention]") {
  SimWorld world;
  EndpointOptions options = retaining();
  options.snapshotEvery = 4;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, options);
  for (int i = 1; i <= 6; ++i) {
    world.sendRaw("counters", increment(world, "inc-" + std::to_string(i), "c1"));
    world.runUntilQuiet();
  }
  world.transport.advance(2h);
  world.sendRaw("counters", increment(world, "inc-7", "c1"));
  world.runUntilQuiet();
  const EntityFacts facts = factsOf(world, "c1");
  // Versions 1..6 went: 4 carried its state, the others' were folded from the base below them.
  CHECK(facts.firstRetained == 7);
  CHECK(facts.history == range(7, 7));
  CHECK(facts.snapshots == std::set<std::uint64_t>{6, 7});  // 6 (the base), 7 (the head's state)
  CHECK(facts.value == 7);
  const OracleReport report = requireOracles(world);
  CHECK(report.copiesOfPrunedVersions == 6);
  CHECK(report.historyEntries == 1);
}

TEST_CASE(
    "a late duplicate of a pruned version is acked as already processed, without a re-run "
    "or outputs",
    "[retention][duplicates]") {
  const bool replayPublished = GENERATE(false, true);
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining(replayPublished));
  const Bytes second = [&] {
    world.sendRaw("counters", increment(world, "inc-1", "c1"));
    world.runUntilQuiet();
    return increment(world, "inc-2", "c1");
  }();
  world.sendRaw("counters", second);
  world.runUntilQuiet();
  world.transport.advance(2h);
  world.sendRaw("counters", increment(world, "inc-3", "c1"));
  world.runUntilQuiet();
  REQUIRE(world.endpoint("counters").stats().prunedVersions == 2);
  const std::size_t countedBefore = countedPublished(world);
  const std::size_t ackedBefore = world.transport.acked().size();

  world.sendRaw("counters", second);  // inside the applied horizon, after its history went
  world.runUntilQuiet();
  const EndpointStats stats = world.endpoint("counters").stats();
  CHECK(stats.prunedDuplicates == 1);
  CHECK(stats.duplicates == 0);
  CHECK(stats.alreadyPublished == 0);
  CHECK(stats.processed == 3);
  CHECK(countedPublished(world) == countedBefore);
  CHECK(world.transport.acked().size() == ackedBefore + 1);
  const EntityFacts facts = factsOf(world, "c1");
  CHECK(facts.head == 3);
  CHECK(facts.value == 3);
  // O6 for the late duplicate: acked, its version pruned (the applied index still says which).
  CHECK(requireOracles(world).copiesOfPrunedVersions == 2);
}

TEST_CASE(
    "a duplicate arriving after the applied horizon is not recognised and is processed anew "
    "(documented)",
    "[retention][duplicates]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining());
  const Bytes first = increment(world, "inc-1", "c1");
  world.sendRaw("counters", first);
  world.runUntilQuiet();
  world.transport.advance(2h);
  world.sendRaw("counters", increment(world, "inc-2", "c1"));  // prunes v1's history
  world.runUntilQuiet();
  world.transport.advance(2h);
  world.sendRaw("counters", increment(world, "inc-3", "c1"));  // v1 applied 4 h ago: removed
  world.runUntilQuiet();
  CHECK(world.endpoint("counters").stats().prunedApplied == 1);

  const std::size_t countedBefore = countedPublished(world);
  world.sendRaw("counters", first);
  world.runUntilQuiet();
  const EndpointStats stats = world.endpoint("counters").stats();
  CHECK(stats.prunedDuplicates == 0);
  CHECK(stats.processed == 4);  // the copy counted as a new input: a second effect
  CHECK(countedPublished(world) == countedBefore + 1);
  const EntityFacts facts = factsOf(world, "c1");
  CHECK(facts.head == 4);
  CHECK(facts.value == 4);
  // The oracles see the documented second effect, and nothing else: inc-1's first Counted
  // (version 1, pruned) is now attributed to inc-1's version 4, which emits other bytes.
  const OracleReport report = checkOracles(world, {"counters"});
  for (const std::string& v : report.violations) UNSCOPED_INFO(v);
  REQUIRE(report.violations.size() == 1);
  CHECK((report.violations[0].rfind("O2/O4:", 0) == 0 ||
         report.violations[0].rfind("O4: ghost", 0) == 0));
  CHECK(report.copiesOfPrunedVersions == 1);  // version 2's Counted
}

TEST_CASE("the store stays flat when ten times more messages flow through it", "[retention]") {
  // Fixed-size states (gallery targets), horizons of zero: everything published may go.
  SimWorld world;
  EndpointOptions options;
  options.retention.historyHorizon = 0s;
  options.retention.appliedHorizon = 0s;
  options.batchSize = 32;
  world.add(
      "gallery", [] { return galleryHandlers(); }, options);
  constexpr int kTargets = 40;
  std::uint64_t sent = 0;
  auto run = [&](std::uint64_t messages) {
    while (sent < messages) {
      for (int i = 0; i < 32 && sent < messages; ++i, ++sent) {
        world.send<Fire>("gallery", "fire-" + std::to_string(sent), [&](Fire::Builder m) {
          m.setTargetId("t" + std::to_string(sent % kTargets));
          m.setPosition(static_cast<std::int32_t>(sent % 3));
        });
      }
      world.runUntilQuiet();
      world.transport.advance(1ms);
    }
  };
  auto sizes = [&] {
    // A graceful stop first: run() with a stop already requested only records the confirmed
    // publications (a crash here would leave the last batch in the publication set).
    std::stop_source stop;
    stop.request_stop();
    world.endpoint("gallery").run(stop.get_token());
    world.closeAll();
    store::VersionStore store(world.storeOf("gallery"), "gallery");
    auto s = store.stats();
    world.restart("gallery");
    return s;
  };
  run(1000);
  const store::VersionStore::Stats small = sizes();
  run(10000);
  const store::VersionStore::Stats large = sizes();
  INFO("history " << small.historyEntries << " -> " << large.historyEntries << ", applied "
                  << small.applied << " -> " << large.applied << ", used bytes " << small.usedBytes
                  << " -> " << large.usedBytes);
  CHECK(large.historyEntries <= 4 * kTargets);
  CHECK(large.heads <= kTargets);
  CHECK(large.bases <= kTargets);
  CHECK(large.applied <= 2 * large.historyEntries + 2 * 32 * 16);
  CHECK(large.usedBytes <= 2 * small.usedBytes);
  const OracleReport report = requireOracles(world, "gallery");
  CHECK(report.copiesCompared == 10000);
  CHECK(report.forgottenInputs > 0);  // horizons of zero: most inputs are forgotten entirely
}

TEST_CASE("inspect, audit and what-if read a pruned entity from its kept base",
          "[retention][audit]") {
  SimWorld world;
  world.add(
      "counters", [] { return counterHandlers("counters"); }, retaining());
  fiveThenOneAfter(world, 2h);
  world.sendRaw("counters", increment(world, "inc-7", "c1"));
  world.runUntilQuiet();
  world.closeAll();

  const tools::App app = counterApp();
  const tools::StoreView view(world.storeOf("counters"), app);
  const std::optional<tools::EntityRow> row = view.findEntity("counter/c1");
  REQUIRE(row);
  CHECK(row->head == 7);
  CHECK(row->firstRetained == 6);
  CHECK(row->prunedNote().find("history below version 6 was pruned") != std::string::npos);
  std::vector<std::uint64_t> versions;
  for (const tools::HistoryRow& h : view.history(row->number)) versions.push_back(h.version);
  CHECK(versions == std::vector<std::uint64_t>{6, 7});

  CHECK(view.stateAt(*row, 5)["value"] == "5");  // the kept base
  CHECK(view.outputsAt(*row, 6)["digestMatches"] == true);
  CHECK_THROWS_WITH(view.stateAt(*row, 3), Catch::Contains("below version 6 was pruned"));
  CHECK_THROWS_WITH(view.outputsAt(*row, 3), Catch::Contains("below version 6 was pruned"));

  const tools::AuditReport audit = tools::auditStore(view);
  for (const tools::Divergence& d : audit.divergences) UNSCOPED_INFO(tools::formatDivergence(d));
  CHECK(audit.clean());
  CHECK(audit.prunedEntities == 1);
  CHECK(audit.versions == 2);

  const tools::WhatIfReport whatIf = tools::replayWhatIf(view, view.handlers(), &view.handlers());
  CHECK(whatIf.unchanged());
  CHECK(whatIf.versions == 2);
  CHECK(requireOracles(world).copiesOfPrunedVersions == 5);
}

}  // namespace idem::test
