// Fenced partition owners and changelogs (framework/nats_ownership.h, nats_changelog.h,
// include/idem/nats_group.h) against a real nats-server: a taken-over owner can neither append
// to the changelog nor publish, the new owner restores the partition from the changelog into an
// empty store, claims never let the epochs go down, and two group members share, hand over and
// take back partitions.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "framework/nats_changelog.h"
#include "framework/nats_client.h"
#include "framework/nats_ownership.h"
#include "idem/canonical.h"
#include "idem/edge.h"
#include "idem/endpoint.h"
#include "idem/error.h"
#include "idem/nats_group.h"
#include "idem/nats_transport.h"
#include "store/version_store.h"
#include "tests/nats_server.h"
#include "tests/temp_dir.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;
using namespace detail::nats;

constexpr const char* kRecorder = "rec";

NatsTransportOptions fenceOptions(const NatsServer& server) {
  NatsTransportOptions o = natsOptionsFor(server.url());
  o.ackWait = 1000ms;
  o.publishTimeout = 2000ms;
  return o;
}

Outbound increment(const std::string& endpoint, int i, int counters) {
  const EdgeAddress address{MessageId::forEdge("fence", "inc-" + std::to_string(i)), endpoint,
                            std::chrono::system_clock::now()};
  return edgeOutbound(address, capnp::typeId<Increment>(),
                      edgeMessage<Increment>(address, [&](Increment::Builder m) {
                        m.setCounterId("c" + std::to_string(i % counters));
                        m.setBy(1);
                        m.setOutputs(1);
                      }));
}

// Versions and the sum of the counters' values in a store.
struct StoreSummary {
  std::uint64_t versions = 0;
  std::uint64_t total = 0;
};
StoreSummary summarise(store::VersionStore& store) {
  StoreSummary s;
  store.read([&](store::Txn& txn) {
    store.forEachEntity(txn, 0, [&](std::uint64_t entity, const store::EntityName&) {
      const auto head = store.findHead(txn, entity);
      REQUIRE(head);
      s.versions += head->version;
      CanonicalReader state(head->state, "state");
      s.total += state.root<Counter>().getValue();
      return true;
    });
  });
  return s;
}

// Receives everything the recorder's stream holds now.
std::size_t drainRecorder(NatsTransport& nats) {
  std::size_t n = 0;
  for (;;) {
    auto got = nats.receive(kRecorder, 256, 200ms);
    if (got.empty()) return n;
    std::vector<std::uint64_t> tags;
    for (const Delivery& d : got) tags.push_back(d.tag);
    nats.ack(kRecorder, tags);
    n += got.size();
  }
}

struct Connection {
  explicit Connection(const NatsTransportOptions& o)
      : nc(connect(o)), js(jetStream(nc.get(), o.publishTimeout)) {}
  ConnectionPtr nc;
  JsCtxPtr js;
};

EndpointOptions endpointOptions(const std::filesystem::path& dir, ChangelogWriter& writer) {
  EndpointOptions o;
  o.storeDirectory = dir;
  o.batchWait = 50ms;
  o.afterCommit = [&writer](const store::VersionStore& s, std::span<const CommittedRecord> r) {
    writer.append(s, r);
  };
  return o;
}

}  // namespace

TEST_CASE("fence: a taken-over owner can neither append nor publish; the new one restores",
          "[nats][fence]") {
  NatsServer server;
  const NatsTransportOptions options = fenceOptions(server);
  NatsTransport nats(options);
  Connection c(options);
  nats.subscribe(kRecorder, capnp::typeId<Counted>());
  const std::string endpoint = "fc";
  ensureChangelogStream(c.js.get(), endpoint, 1);
  OwnerTable owners(c.js.get(), 1);
  const std::int64_t maxPayload = natsConnection_GetMaxPayload(c.nc.get());
  TempDir dirA("fence-a"), dirB("fence-b");

  // A owns epoch 1 and commits 6 versions, each appended before its output is published.
  const auto a = owners.take(endpoint, 0, "A", std::nullopt);
  REQUIRE(a);
  REQUIRE(a->epoch == 1);
  ChangelogWriter writerA(c.js.get(), endpoint, 0, a->epoch, "A", maxPayload);
  const std::uint64_t claimA = writerA.claim();
  NatsPartition viewA(nats, 0);
  Endpoint endpointA(counterHandlers(endpoint), viewA,
                     endpointOptions(dirA.path() / "store", writerA));
  for (int i = 0; i < 6; ++i) {
    Outbound m = increment(endpoint, i, 3);
    nats.publish(std::span(&m, 1));
  }
  for (int round = 0; round < 100 && endpointA.stats().processed < 6; ++round) {
    endpointA.processBatch();
  }
  REQUIRE(endpointA.stats().processed == 6);
  REQUIRE(drainRecorder(nats) == 6);
  REQUIRE(readTail(c.js.get(), endpoint, 0).sequence > claimA);

  // B takes epoch 2 (compare-and-set on A's revision; a stale take loses) and claims.
  REQUIRE_FALSE(owners.take(endpoint, 0, "C", std::optional<Owner>{}));  // the key exists
  const auto b = owners.take(endpoint, 0, "B", a);
  REQUIRE(b);
  REQUIRE(b->epoch == 2);
  REQUIRE_FALSE(owners.take(endpoint, 0, "C", a));  // A's revision is gone
  ChangelogWriter writerB(c.js.get(), endpoint, 0, b->epoch, "B", maxPayload);
  const std::uint64_t claimB = writerB.claim();

  // A claim of an older epoch after it is refused: epochs on the subject never go down.
  ChangelogWriter late(c.js.get(), endpoint, 0, 1, "A", maxPayload);
  REQUIRE_THROWS_AS(late.claim(), Error);
  REQUIRE(late.stopped());

  // B restores A's six versions into an empty store.
  {
    store::VersionStore restored(dirB.path() / "store", endpoint);
    const RestoreCounts counts =
        restoreFromChangelog(c.nc.get(), c.js.get(), endpoint, 0, claimB, restored);
    REQUIRE(counts.records == 6);
    const StoreSummary s = summarise(restored);
    REQUIRE(s.versions == 6);
    REQUIRE(s.total == 6);
  }

  // A (the zombie) processes one more input: its append is refused, nothing is published, it
  // stops, and its local commit leaks nowhere.
  Outbound seventh = increment(endpoint, 6, 3);
  nats.publish(std::span(&seventh, 1));
  bool fenced = false;
  for (int round = 0; round < 100 && !fenced; ++round) {
    try {
      endpointA.processBatch();
    } catch (const Error& e) {
      REQUIRE(e.kind() == ErrorKind::kPermanent);
      REQUIRE(std::string(e.what()).find("fenced") != std::string::npos);
      fenced = true;
    }
  }
  REQUIRE(fenced);
  REQUIRE(writerA.stopped());
  REQUIRE(drainRecorder(nats) == 0);
  const ChangelogTail tail = readTail(c.js.get(), endpoint, 0);
  REQUIRE(tail.sequence == claimB);  // nothing after B's claim
  REQUIRE(tail.epoch == 2);

  // B serves: the seventh input comes back after A's lease and is processed once, by B.
  NatsPartition viewB(nats, 0);
  Endpoint endpointB(counterHandlers(endpoint), viewB,
                     endpointOptions(dirB.path() / "store", writerB));
  for (int round = 0; round < 200 && endpointB.stats().processed < 1; ++round) {
    endpointB.processBatch();
  }
  REQUIRE(endpointB.stats().processed == 1);
  REQUIRE(drainRecorder(nats) == 1);
  REQUIRE(readTail(c.js.get(), endpoint, 0).epoch == 2);
}

TEST_CASE("fence: two group members balance partitions, hand over on stop, restore on take",
          "[nats][fence]") {
  NatsServer server;
  NatsTransportOptions options = fenceOptions(server);
  const std::string endpoint = "fg";
  options.partitionCounts[endpoint] = 4;
  options.keyResolver = keyResolverFor([&] {
    std::vector<Handlers> sets;
    sets.push_back(counterHandlers(endpoint));
    return sets;
  }());
  NatsTransport nats(options);
  nats.subscribe(kRecorder, capnp::typeId<Counted>());
  TempDir dir1("group-1"), dir2("group-2");
  auto member = [&](const std::string& name, const std::filesystem::path& dir) {
    NatsGroupOptions g;
    g.member = name;
    g.lease = 1000ms;
    auto group = std::make_unique<NatsPartitionGroup>(nats, g);
    group->add(
        endpoint, [&] { return counterHandlers(endpoint); },
        [dir, endpoint](std::uint32_t p) {
          EndpointOptions o;
          o.storeDirectory = dir / (endpoint + ".p" + std::to_string(p));
          o.batchWait = 20ms;
          return o;
        });
    return group;
  };
  auto m1 = member("m1", dir1.path());
  auto m2 = member("m2", dir2.path());
  std::jthread run1([&](std::stop_token stop) { m1->run(stop); });
  std::jthread run2([&](std::stop_token stop) { m2->run(stop); });
  auto waitFor = [](auto condition) {
    for (int i = 0; i < 1500 && !condition(); ++i) std::this_thread::sleep_for(10ms);
    return condition();
  };
  REQUIRE(waitFor([&] { return m1->served().size() == 2 && m2->served().size() == 2; }));

  constexpr int kInputs = 40;
  for (int i = 0; i < kInputs / 2; ++i) {
    Outbound m = increment(endpoint, i, 8);
    nats.publish(std::span(&m, 1));
  }
  std::size_t recorded = 0;
  REQUIRE(waitFor([&] {
    recorded += drainRecorder(nats);
    return recorded >= kInputs / 2;
  }));

  // m1 stops: it drains and releases its partitions, and m2 takes them, restored.
  run1.request_stop();
  run1.join();
  REQUIRE(waitFor([&] { return m2->served().size() == 4; }));
  std::uint64_t restored = 0;
  for (const ServedPartition& p : m2->served()) restored += p.restoredRecords;
  REQUIRE(restored > 0);
  for (int i = kInputs / 2; i < kInputs; ++i) {
    Outbound m = increment(endpoint, i, 8);
    nats.publish(std::span(&m, 1));
  }
  REQUIRE(waitFor([&] {
    recorded += drainRecorder(nats);
    return recorded >= kInputs;
  }));
  run2.request_stop();
  run2.join();

  // m2's stores hold every input once.
  StoreSummary all;
  for (std::uint32_t p = 0; p < 4; ++p) {
    store::VersionStore s(dir2.path() / (endpoint + ".p" + std::to_string(p)), endpoint);
    const StoreSummary one = summarise(s);
    all.versions += one.versions;
    all.total += one.total;
  }
  REQUIRE(all.versions == kInputs);
  REQUIRE(all.total == kInputs);
}

}  // namespace idem::test

namespace idem::test {

// A measurement, not a check of speed: restores a partition of `IDEM_RESTORE_VERSIONS` versions
// (default 100,000, over 1,000 entities, 64-byte inputs and 16-byte states) and reports the
// time. Run explicitly: idem_tests "[.restore-figure]" -s.
TEST_CASE("fence: restore time of a partition from its changelog", "[.restore-figure]") {
  NatsServer server;
  const NatsTransportOptions options = fenceOptions(server);
  Connection c(options);
  const std::string endpoint = "rf";
  ensureChangelogStream(c.js.get(), endpoint, 1);
  const char* env = std::getenv("IDEM_RESTORE_VERSIONS");
  const std::uint64_t versions = env ? std::strtoull(env, nullptr, 10) : 100'000;
  TempDir dir("restore-figure");
  ChangelogWriter writer(c.js.get(), endpoint, 0, 1, "W", natsConnection_GetMaxPayload(c.nc.get()));
  writer.claim();
  {
    store::StoreOptions so;
    so.durable = false;
    store::VersionStore source(dir.path() / "source", endpoint, so);
    std::vector<std::byte> input(64), state(16);
    std::uint64_t done = 0;
    while (done < versions) {
      std::vector<CommittedRecord> batch;
      source.write([&](store::Txn& txn) {
        batch.clear();
        for (std::uint64_t i = done; i < std::min(versions, done + 256); ++i) {
          const std::string key = "e" + std::to_string(i % 1000);
          auto entity = source.findEntity(txn, "counter", key);
          if (!entity) entity = source.createEntity(txn, "counter", key);
          store::HistoryEntry entry;
          entry.handlerId = "inc";
          entry.handlerVersion = 1;
          entry.recordedAtNs = 1;
          entry.stateChanged = true;
          entry.input = input;
          MessageId id;
          std::memcpy(id.bytes.data(), &i, sizeof i);
          id.bytes[15] = 1;
          const std::uint64_t seq =
              source.append(txn, *entity, source.headVersion(txn, *entity) + 1, id, entry,
                            std::span<const std::byte>(state));
          batch.push_back({seq, id});
        }
      });
      writer.append(source, batch);
      done += batch.size();
    }
  }
  const std::uint64_t through = ChangelogWriter(c.js.get(), endpoint, 0, 2, "R", 1 << 20).claim();
  store::VersionStore restored(dir.path() / "restored", endpoint);
  const auto began = std::chrono::steady_clock::now();
  const RestoreCounts counts =
      restoreFromChangelog(c.nc.get(), c.js.get(), endpoint, 0, through, restored);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - began)
                      .count();
  REQUIRE(counts.records == versions);
  WARN("restored " << counts.records << " versions (" << counts.messages << " messages, "
                   << counts.bytes << " bytes) in " << ms << " ms");
}

}  // namespace idem::test
