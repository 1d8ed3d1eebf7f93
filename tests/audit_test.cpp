// Tests of the audit tools: handler modules, read-only stores, inspect, audit (tampered
// snapshots, non-deterministic handlers, live stores) and what-if replays of changed handlers.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "framework/simulation_transport.h"
#include "idem/edge.h"
#include "idem/endpoint.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "samples/bank/bank.h"
#include "store/lmdb_env.h"
#include "store/version_store.h"
#include "tests/peer_message.h"
#include "tests/sim_world.h"
#include "tests/temp_dir.h"
#include "tests/test_endpoints.h"
#include "tools/apps.h"
#include "tools/store_audit.h"
#include "tools/store_view.h"
#include "tools/what_if.h"

namespace {

using namespace idem;
using idem::test::SimWorld;
using idem::test::TempDir;

tools::App counterApp(std::shared_ptr<test::CounterKnobs> knobs = {}, bool hidden = false) {
  // The sink endpoint makes the app know the schema of Counted, the counters' output.
  return tools::App{"counters",
                    {{"counters",
                      [knobs, hidden](Handlers& handlers) {
                        Handlers made =
                            test::counterHandlers(handlers.endpointName(), knobs, hidden);
                        for (const auto& h : made.all()) handlers.add(*h);
                      }},
                     {"sink", [](Handlers& handlers) { test::addSinkHandlers(handlers); }}},
                    nullptr};
}

// Three counters incremented `rounds` times each, processed to the end; the store is closed.
void runCounters(SimWorld& world, unsigned rounds, std::shared_ptr<test::CounterKnobs> knobs = {},
                 bool hidden = false) {
  world.add("counters",
            [knobs, hidden] { return test::counterHandlers("counters", knobs, hidden); });
  for (unsigned r = 0; r < rounds; ++r) {
    for (int c = 0; c < 3; ++c) {
      world.send<test::Increment>("counters", "inc-" + std::to_string(r) + "-" + std::to_string(c),
                                  [&](test::Increment::Builder m) {
                                    m.setCounterId("c" + std::to_string(c));
                                    m.setBy(r + 1);
                                    m.setOutputs(1);
                                  });
    }
  }
  world.runUntilQuiet();
  world.closeAll();
}

// XORs byte `offset` of the snapshot of (entity, version), below the VersionStore API.
// Flips one byte of the state kept in the log record of `version` (which must carry one).
void tamperSnapshot(const std::filesystem::path& dir, std::uint64_t entity, std::uint64_t version,
                    std::size_t offset) {
  std::uint64_t seq = 0;
  std::size_t stateBytes = 0;
  {
    store::StoreOptions readOnly;
    readOnly.readOnly = true;
    store::VersionStore store(dir, "", readOnly);
    store.read([&](store::Txn& txn) {
      const auto record = store.findVersion(txn, entity, version);
      REQUIRE(record.has_value());
      REQUIRE(record->state.has_value());
      seq = record->seq;
      stateBytes = record->state->size();
    });
  }
  store::LmdbEnv env(dir, store::EnvOptions{});
  env.write([&](store::Txn& txn) {
    const MDB_dbi log = *env.openDb(txn, "log", false);
    std::array<std::byte, 8> key{};
    for (int i = 0; i < 8; ++i) key[7 - i] = static_cast<std::byte>(seq >> (8 * i));
    const auto value = txn.get(log, key);
    REQUIRE(value);
    std::vector<std::byte> copy(value->begin(), value->end());
    copy.at(copy.size() - stateBytes + offset) ^= std::byte{0x5a};
    REQUIRE(txn.put(log, key, copy));
  });
}

}  // namespace

TEST_CASE("an audit of an untouched store finds no divergence", "[audit]") {
  SimWorld world;
  runCounters(world, 4);
  const tools::App app = counterApp();
  const tools::StoreView view(world.storeOf("counters"), app);
  const tools::AuditReport report = tools::auditStore(view);
  CHECK(report.clean());
  CHECK(report.entities == 3);
  CHECK(report.versions == 12);
  CHECK(report.snapshotsChecked == 12);
  CHECK(report.digestsChecked == 12);
}

TEST_CASE("an audit names the entity, version and byte of a tampered snapshot", "[audit]") {
  SimWorld world;
  runCounters(world, 3);
  std::uint64_t entity = 0;
  {
    const tools::App app = counterApp();
    const tools::StoreView view(world.storeOf("counters"), app);
    entity = view.findEntity("counter/c1")->number;
  }
  // Byte 8 is the first of the data section: Counter.value.
  tamperSnapshot(world.storeOf("counters"), entity, 2, 8);

  const tools::App app = counterApp();
  const tools::StoreView view(world.storeOf("counters"), app);
  const tools::AuditReport report = tools::auditStore(view);
  REQUIRE(report.divergences.size() == 1);
  const tools::Divergence& d = report.divergences[0];
  CHECK(d.kind == tools::Divergence::Kind::kSnapshot);
  CHECK(d.entity.name.entityType == "counter");
  CHECK(d.entity.name.key == "c1");
  CHECK(d.version == 2);
  CHECK(d.firstDifferingByte == std::optional<std::size_t>(8));
  REQUIRE(d.stateDiff.size() == 1);
  CHECK(d.stateDiff[0].path == "/value");
  CHECK(d.stateDiff[0].after == "3");  // 1 + 2, as re-derived
  CHECK(tools::formatDivergence(d).find("counter/c1 v2 [snapshot]") != std::string::npos);
  CHECK(tools::auditJson(view, report)["divergences"][0]["firstDifferingByte"] == 8);
}

TEST_CASE("an audit catches a non-deterministic handler by its output digest", "[audit]") {
  SimWorld world;
  auto knobs = std::make_shared<test::CounterKnobs>();
  runCounters(world, 2, knobs, /*hidden=*/true);
  // The audit runs the same code; its hidden counter has moved on since the first runs.
  const tools::App app = counterApp(knobs, /*hidden=*/true);
  const tools::StoreView view(world.storeOf("counters"), app);
  const tools::AuditReport report = tools::auditStore(view);
  REQUIRE_FALSE(report.clean());
  for (const tools::Divergence& d : report.divergences) {
    CHECK(d.kind == tools::Divergence::Kind::kOutputs);
    CHECK(d.recordedDigest != d.derivedDigest);
    CHECK(d.messageType == "Increment");
    CHECK(d.handler == "increment v1");
  }
  CHECK(report.divergences.size() == 6);  // every Increment of every counter
}

TEST_CASE("inspect shows the state at a version and the outputs it re-derives", "[audit]") {
  SimWorld world;
  runCounters(world, 3);
  const tools::App app = counterApp();
  const tools::StoreView view(world.storeOf("counters"), app);
  const auto entity = view.findEntity("counter/c0");
  REQUIRE(entity);
  CHECK(entity->head == 3);
  CHECK(view.stateAt(*entity, 0)["value"] == "0");  // the initial state
  CHECK(view.stateAt(*entity, 2)["value"] == "3");  // 1 + 2 (UInt64 is a JSON string)
  CHECK(view.stateAt(*entity, 3)["value"] == "6");
  const auto history = view.history(entity->number);
  REQUIRE(history.size() == 3);
  CHECK(history[1].messageTypeName == "Increment");
  CHECK(history[1].outputCount == 1);
  const auto before = view.findApplied(history[1].inputId);
  REQUIRE(before);
  CHECK(before->version == 2);
  const nlohmann::json outputs = view.outputsAt(*entity, 2);
  CHECK(outputs["digestMatches"] == true);
  REQUIRE(outputs["outputs"].size() == 1);
  CHECK(outputs["outputs"][0]["messageType"] == "Counted");
  CHECK(outputs["outputs"][0]["payload"]["value"] == "3");
  CHECK(outputs["outputs"][0]["causationId"] == history[1].inputId.toHex());
  const auto page = view.entities({"counter", "c"}, 1, 1);
  REQUIRE(page.size() == 1);
  CHECK(page[0].number == 2);
}

TEST_CASE("a store opened read-only refuses writes and leaves its file as it was", "[audit]") {
  SimWorld world;
  runCounters(world, 2);
  const auto file = world.storeOf("counters") / "data.mdb";
  const auto size = std::filesystem::file_size(file);
  store::StoreOptions options;
  options.readOnly = true;
  store::VersionStore store(world.storeOf("counters"), "", options);
  CHECK(store.endpointName() == "counters");
  CHECK_THROWS_AS(store.write([](store::Txn&) {}), Error);
  CHECK(store.stats().entities == 3);
  CHECK(std::filesystem::file_size(file) == size);
  TempDir empty;
  CHECK_THROWS_AS(store::VersionStore(empty / "none", "", options), Error);
  CHECK_FALSE(std::filesystem::exists(empty / "none"));
}

TEST_CASE("the bank handler modules load and register their endpoints", "[audit]") {
  const tools::App bank = tools::loadModuleApp(IDEM_BANK_MODULE);
  CHECK(bank.name == "bank");
  REQUIRE(bank.endpoints.size() == 3);
  Handlers accounts = bank.handlers(bank::kAccounts);
  CHECK(accounts.findBySpec("bank.credit", 1) != nullptr);
  const tools::App fee = tools::loadModuleApp(IDEM_BANK_FEE_MODULE);
  CHECK(fee.handlers(bank::kAccounts).findBySpec("bank.credit", 2) != nullptr);
  CHECK_THROWS_AS(tools::loadModuleApp("/nonexistent/module.so"), Error);
}

TEST_CASE("what-if lists a changed handler with the diff of its states and outputs", "[audit]") {
  SimWorld world;
  world.add(bank::kAccounts, [] {
    Handlers h(bank::kAccounts);
    bank::registerAccounts(h);
    return h;
  });
  world.add(bank::kTransfers, [] {
    Handlers h(bank::kTransfers);
    bank::registerTransfers(h);
    return h;
  });
  world.add(bank::kNotifications, [] {
    Handlers h(bank::kNotifications);
    bank::registerNotifications(h);
    return h;
  });
  for (const auto& [id, balance] : {std::pair{"alice", 100}, std::pair{"bob", 0}}) {
    world.send<bank::OpenAccount>(bank::kAccounts, std::string("open-") + id,
                                  [&](bank::OpenAccount::Builder m) {
                                    m.setAccountId(id);
                                    m.setInitialBalance(balance);
                                  });
  }
  world.runUntilQuiet();
  world.send<bank::StartTransfer>(bank::kTransfers, "t1", [](bank::StartTransfer::Builder m) {
    m.setTransferId("t1");
    m.setFrom("alice");
    m.setTo("bob");
    m.setAmount(10);
  });
  world.runUntilQuiet();
  world.closeAll();

  const tools::App recorded = tools::findApp("bank");
  const tools::App changed = tools::loadModuleApp(IDEM_BANK_FEE_MODULE);
  const tools::StoreView view(world.storeOf(bank::kAccounts), changed);
  Handlers baseline = tools::endpointHandlers(recorded, bank::kAccounts, bank::kAccounts);
  const tools::WhatIfReport report = tools::replayWhatIf(view, view.handlers(), &baseline);

  CHECK(report.entities == 2);
  CHECK(report.entitiesChanged == 1);
  REQUIRE(report.changes.size() == 1);  // bob's credit; alice's settle does not see the fee
  const tools::WhatIfChange& c = report.changes[0];
  CHECK(c.entity.name.key == "bob");
  CHECK(c.messageType == "Credit");
  CHECK(c.recordedHandler == "bank.credit v1");
  CHECK(c.newHandler == "bank.credit v2");
  CHECK(c.stateChanged);
  CHECK(c.outputsChanged);
  REQUIRE_FALSE(c.stateDiff.empty());
  CHECK(c.stateDiff[0].path == "/balance");
  CHECK(c.stateDiff[0].before == "10");
  CHECK(c.stateDiff[0].after == "9");
  REQUIRE(c.outputDiff.size() == 1);
  CHECK(c.outputDiff[0].path == "/0/payload/amount");
  CHECK(c.outputDiff[0].before == "10");
  CHECK(c.outputDiff[0].after == "9");
  const tools::WhatIfSummary& credit =
      report.summary.at("Credit").at("bank.credit v1 -> bank.credit v2");
  CHECK(credit.versions == 1);
  CHECK(credit.statesChanged == 1);
  CHECK(credit.outputsChanged == 1);

  // Without the baseline code, the stored snapshots and digests are the reference.
  const tools::WhatIfReport bySnapshots = tools::replayWhatIf(view, view.handlers(), nullptr);
  REQUIRE(bySnapshots.changes.size() == 1);
  CHECK(bySnapshots.changes[0].stateDiff.at(0).after == "9");
  CHECK(bySnapshots.changes[0].newOutputs[0]["payload"]["amount"] == "9");

  // The code that wrote the store changes nothing.
  const tools::StoreView same(world.storeOf(bank::kAccounts), recorded);
  CHECK(tools::replayWhatIf(same, same.handlers(), nullptr).unchanged());
}

TEST_CASE(
    "audit and what-if work on a history that spans a handler version change, with one "
    "module holding both versions",
    "[audit][regression]") {
  SimWorld world;
  EndpointOptions options;
  options.snapshotEvery = 4;  // older versions are re-folded through the code that wrote them
  world.add(
      bank::kAccounts,
      [] {
        Handlers h(bank::kAccounts);
        bank::registerAccounts(h);  // bank.credit v1
        return h;
      },
      options);
  world.add(bank::kTransfers, [] {  // takes the accounts' replies (transfers it does not know)
    Handlers h(bank::kTransfers);
    bank::registerTransfers(h);
    return h;
  });
  world.send<bank::OpenAccount>(bank::kAccounts, "open-bob", [](bank::OpenAccount::Builder m) {
    m.setAccountId("bob");
    m.setInitialBalance(0);
  });
  auto credit = [&](const std::string& key) {
    world.sendRaw(bank::kAccounts,
                  test::sentBy<bank::Credit>(bank::kTransfers, bank::kAccounts, key,
                                             world.transport.now(), [&](bank::Credit::Builder m) {
                                               m.setTransferId(key);
                                               m.setAccountId("bob");
                                               m.setAmount(10);
                                             }));
    world.runUntilQuiet();
  };
  credit("t1");
  credit("t2");
  // The deploy: bank.credit v2 (a fee), v1 kept for replay only (samples/bank/accounts.cpp).
  world.redeploy(bank::kAccounts, [] {
    Handlers h(bank::kAccounts);
    bank::registerAccountsWith(h, bank::AccountRules{.creditFee = 1});
    return h;
  });
  credit("t3");
  credit("t4");
  CHECK(world.transport.deadLetters(bank::kAccounts).empty());
  world.closeAll();

  const tools::App both = tools::loadModuleApp(IDEM_BANK_FEE_MODULE);
  CHECK(both.handlers(bank::kAccounts).findBySpec("bank.credit", 1) != nullptr);
  const tools::StoreView view(world.storeOf(bank::kAccounts), both);
  const tools::AuditReport audit = tools::auditStore(view);
  for (const auto& d : audit.divergences) UNSCOPED_INFO(tools::formatDivergence(d));
  CHECK(audit.clean());
  CHECK(audit.versions == 5);
  CHECK(audit.digestsChecked == 5);

  // What-if of the new code over all of it: only the two credits v1 recorded change.
  const tools::WhatIfReport whatIf = tools::replayWhatIf(view, view.handlers(), &view.handlers());
  CHECK(whatIf.entities == 1);
  const tools::WhatIfSummary& changed =
      whatIf.summary.at("Credit").at("bank.credit v1 -> bank.credit v2");
  CHECK(changed.versions == 2);
  CHECK(changed.statesChanged == 2);
  // The versions v2 recorded fold on the states the v1 changes moved (balances differ), but emit
  // what they emitted.
  const tools::WhatIfSummary& same =
      whatIf.summary.at("Credit").at("bank.credit v2 -> bank.credit v2");
  CHECK(same.versions == 2);
  CHECK(same.outputsChanged == 0);
}

namespace {

// The writer of the live-store test, in a child process: an endpoint appending to `dir` on
// request. Protocol on the pipes: the child says 'R' once it has written the first versions;
// then for each 'W' it processes a batch of increments (new versions and new counters) and
// answers 'D'; 'Q' ends it.
[[noreturn]] void liveWriter(const std::filesystem::path& dir, int fromParent, int toParent) {
  try {
    SimulationTransport transport(7);
    EndpointOptions options;
    options.storeDirectory = dir;
    options.durable = false;
    Endpoint endpoint(test::counterHandlers("counters"), transport, options);
    unsigned next = 0;
    const auto writeBatch = [&] {
      for (int i = 0; i < 8; ++i, ++next) {
        const MessageId id = MessageId::forEdge("test", "live-" + std::to_string(next));
        transport.inject("counters",
                         edgeMessage<test::Increment>(
                             {id, "counters", transport.now()}, [&](test::Increment::Builder m) {
                               m.setCounterId("c" + std::to_string(next % 12));
                               m.setBy(1);
                               m.setOutputs(1);
                             }));
      }
      while (endpoint.processBatch() > 0) {
      }
    };
    writeBatch();
    char c = 'R';
    if (::write(toParent, &c, 1) != 1) ::_exit(2);
    while (::read(fromParent, &c, 1) == 1 && c == 'W') {
      writeBatch();
      c = 'D';
      if (::write(toParent, &c, 1) != 1) ::_exit(2);
    }
    ::_exit(0);
  } catch (...) {
    ::_exit(1);
  }
}

}  // namespace

TEST_CASE("an audit of a store being written reports no false divergence", "[audit]") {
  TempDir dir;
  const auto store = dir / "counters";
  int down[2];
  int up[2];
  REQUIRE(::pipe(down) == 0);
  REQUIRE(::pipe(up) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(down[1]);
    ::close(up[0]);
    liveWriter(store, down[0], up[1]);
  }
  ::close(down[0]);
  ::close(up[1]);
  char c = 0;
  REQUIRE(::read(up[0], &c, 1) == 1);
  REQUIRE(c == 'R');

  const tools::App app = counterApp();
  const tools::StoreView view(store, app);
  unsigned writesDuringAudit = 0;
  tools::AuditOptions options;
  options.pageSize = 2;  // new pages see the counters the writer adds meanwhile
  options.progress = [&](std::uint64_t, std::uint64_t) {
    // Between two entities, the writer commits a batch: versions of entities audited already,
    // of entities not audited yet, and new entities.
    char go = 'W';
    if (::write(down[1], &go, 1) == 1 && ::read(up[0], &go, 1) == 1 && go == 'D') {
      ++writesDuringAudit;
    }
  };
  const tools::AuditReport during = tools::auditStore(view, options);
  c = 'Q';
  REQUIRE(::write(down[1], &c, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  ::close(down[1]);
  ::close(up[0]);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  CHECK(writesDuringAudit >= 8);
  for (const tools::Divergence& d : during.divergences) INFO(tools::formatDivergence(d));
  CHECK(during.clean());
  CHECK(during.entities == 12);  // 8 counters at the start, the rest created during the audit
  const tools::AuditReport after = tools::auditStore(view);
  CHECK(after.clean());
  CHECK(after.versions == 8 * (1 + writesDuringAudit));
}
