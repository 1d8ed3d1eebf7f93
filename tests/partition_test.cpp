// Partitioning: the stable partition hash, and routing to a partitioned endpoint over a real
// nats-server (by the receiver's key function, by the entityKey hint, neither), fan-out copies
// per subscriber partition, forwarding of a misrouted message, and a mismatched partition count.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "idem/edge.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "idem/nats_transport.h"
#include "idem/partitioning.h"
#include "tests/nats_server.h"
#include "tests/test_endpoints.h"
#include "tools/serve.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;

NatsTransportOptions optionsFor(const NatsServer& server) {
  NatsTransportOptions o = natsOptionsFor(server.url());
  o.ackWait = 5000ms;
  o.publishTimeout = 2000ms;
  return o;
}

// An edge Increment for counter `counter` sent to `destination` (empty: published), with the
// entityKey hint `hint`.
Outbound increment(const std::string& destination, const std::string& counter,
                   const std::string& hint = "") {
  const EdgeAddress address{MessageId::forEdge("partition-test", destination + "/" + counter),
                            destination, std::chrono::system_clock::now(), hint};
  return edgeOutbound(address, capnp::typeId<Increment>(),
                      edgeMessage<Increment>(address, [&](Increment::Builder m) {
                        m.setCounterId(counter);
                        m.setBy(1);
                        m.setOutputs(1);
                      }));
}

std::string counterOf(const Delivery& d) {
  CanonicalReader envelope(d.envelope, "envelope");
  auto bytes = envelope.root<wire::Envelope>().getPayload();
  CanonicalReader payload({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()},
                          "payload");
  return payload.root<Increment>().getCounterId();
}

// Everything in each partition of `endpoint`: counter ids by partition (acked).
std::map<std::uint32_t, std::vector<std::string>> drainPartitions(NatsTransport& nats,
                                                                  const std::string& endpoint,
                                                                  std::size_t expected) {
  std::map<std::uint32_t, std::vector<std::string>> out;
  std::size_t total = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (total < expected && std::chrono::steady_clock::now() < deadline) {
    for (std::uint32_t p = 0; p < nats.partitionCount(endpoint); ++p) {
      NatsPartition partition(nats, p);
      auto got = partition.receive(endpoint, 100, 20ms);
      std::vector<std::uint64_t> tags;
      for (const Delivery& d : got) {
        out[p].push_back(counterOf(d));
        tags.push_back(d.tag);
      }
      total += got.size();
      partition.ack(endpoint, tags);
    }
  }
  return out;
}

// The messages left in `endpoint`'s stream once acks were applied (the server applies an ack
// after the flush returns): polls until none is left or 5 s passed.
std::uint64_t pendingOnceAcked(NatsTransport& nats, const std::string& endpoint) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::uint64_t left = nats.pending(endpoint);
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    left = nats.pending(endpoint);
  }
  return left;
}

}  // namespace

TEST_CASE("the partition of an entity key is fixed: the same on every build and machine",
          "[partition]") {
  // Reference values of the function specified in docs/nats.md: a change here breaks every
  // deployment's routing.
  REQUIRE(partitionOf("acct-42", 4) == 2u);
  REQUIRE(partitionOf("acct-42", 16) == 14u);
  REQUIRE(partitionOf("", 7) == 1u);
  REQUIRE(partitionOf("c17", 1) == 0);
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(partitionOf("c" + std::to_string(i), 4));
  REQUIRE(seen == std::set<std::uint32_t>{0, 1, 2, 3});  // keys spread over every partition
  REQUIRE_THROWS_AS(partitionOf("x", 0), Error);
}

TEST_CASE("a partition list names single partitions and ranges", "[partition]") {
  REQUIRE(tools::parsePartitionList("0,2") == std::vector<std::uint32_t>{0, 2});
  REQUIRE(tools::parsePartitionList("0-3") == std::vector<std::uint32_t>{0, 1, 2, 3});
  REQUIRE(tools::parsePartitionList("5,0-1,1") == std::vector<std::uint32_t>{0, 1, 5});
  for (const char* bad : {"", "a", "1,", "3-1", "-2", "1-", "0,,1"}) {
    CAPTURE(bad);
    REQUIRE_THROWS_AS(tools::parsePartitionList(bad), Error);
  }
}

TEST_CASE("nats: messages reach the partition of their entity, by the receiver's key function",
          "[nats][partition]") {
  NatsServer server;
  NatsTransportOptions receiverOptions = optionsFor(server);
  receiverOptions.partitionCounts["counters"] = 4;
  NatsTransport receiver(receiverOptions);

  NatsTransportOptions senderOptions = optionsFor(server);  // another process: learns P = 4
  std::vector<Handlers> sets;
  sets.push_back(counterHandlers("counters"));
  senderOptions.keyResolver = keyResolverFor(std::move(sets));
  NatsTransport sender(senderOptions);
  REQUIRE(sender.partitionCount("counters") == 4);

  std::vector<Outbound> batch;
  for (int i = 0; i < 40; ++i) batch.push_back(increment("counters", "c" + std::to_string(i)));
  sender.publish(batch);

  auto byPartition = drainPartitions(receiver, "counters", 40);
  std::size_t total = 0;
  for (const auto& [partition, counters] : byPartition) {
    for (const std::string& counter : counters) {
      CAPTURE(counter);
      REQUIRE(partitionOf(counter, 4) == partition);
    }
    total += counters.size();
  }
  REQUIRE(total == 40);
  REQUIRE(byPartition.size() == 4);
  REQUIRE(pendingOnceAcked(receiver, "counters") == 0);
}

TEST_CASE("nats: without the receiver's key function the entityKey hint routes; neither fails",
          "[nats][partition]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.partitionCounts["counters"] = 4;
  NatsTransport nats(o);  // no keyResolver

  std::vector<Outbound> hinted;
  for (int i = 0; i < 12; ++i) {
    const std::string counter = "c" + std::to_string(i);
    hinted.push_back(increment("counters", counter, counter));
  }
  nats.publish(hinted);
  for (const auto& [partition, counters] : drainPartitions(nats, "counters", 12)) {
    for (const std::string& counter : counters) REQUIRE(partitionOf(counter, 4) == partition);
  }

  Outbound unroutable = increment("counters", "c99");
  for (const Outbound& m : hinted) nats.checkOutbound(m);
  try {  // known before commit (issue 12): the count was declared, so no I/O is needed
    nats.checkOutbound(unroutable);
    FAIL("checkOutbound accepted a message for a partitioned endpoint without any key");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::kPermanent);
    REQUIRE_THAT(e.what(), Catch::Contains("counters, which has 4 partitions"));
  }
  try {
    nats.publish(std::span(&unroutable, 1));
    FAIL("a message for a partitioned endpoint without any key was published");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::kPermanent);
    REQUIRE_THAT(e.what(), Catch::Contains("counters, which has 4 partitions") &&
                               Catch::Contains("entityKey"));
  }
  REQUIRE(pendingOnceAcked(nats, "counters") == 0);  // nothing of it was published
}

TEST_CASE("nats: each subscriber's copy of a published message goes to its own partition",
          "[nats][partition]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.partitionCounts["four"] = 4;
  o.partitionCounts["two"] = 2;
  std::vector<Handlers> sets;
  sets.push_back(counterHandlers("four"));
  sets.push_back(counterHandlers("two"));
  o.keyResolver = keyResolverFor(std::move(sets));
  NatsTransport nats(o);
  nats.subscribe("four", capnp::typeId<Increment>());
  nats.subscribe("two", capnp::typeId<Increment>());

  std::vector<Outbound> batch;
  for (int i = 0; i < 20; ++i) batch.push_back(increment("", "k" + std::to_string(i)));
  nats.publish(batch);
  for (const auto& [endpoint, count] :
       {std::pair<std::string, std::uint32_t>{"four", 4}, {"two", 2}}) {
    std::size_t total = 0;
    for (const auto& [partition, counters] : drainPartitions(nats, endpoint, 20)) {
      for (const std::string& counter : counters) {
        REQUIRE(partitionOf(counter, count) == partition);
      }
      total += counters.size();
    }
    REQUIRE(total == 20);
  }
}

TEST_CASE("nats: a message routed by a wrong hint is forwarded by the receiver to its partition",
          "[nats][partition]") {
  NatsServer server;
  NatsTransportOptions senderOptions = optionsFor(server);
  senderOptions.partitionCounts["counters"] = 4;
  NatsTransport sender(senderOptions);  // no key function: routes by the hint

  NatsTransportOptions receiverOptions = optionsFor(server);
  std::vector<Handlers> sets;
  sets.push_back(counterHandlers("counters"));
  receiverOptions.keyResolver = keyResolverFor(std::move(sets));
  NatsTransport receiver(receiverOptions);

  // A hint whose partition differs from the key's.
  std::string wrongHint;
  for (int i = 0; wrongHint.empty(); ++i) {
    const std::string h = "h" + std::to_string(i);
    if (partitionOf(h, 4) != partitionOf("c1", 4)) wrongHint = h;
  }
  Outbound m = increment("counters", "c1", wrongHint);
  sender.publish(std::span(&m, 1));

  NatsPartition wrong(receiver, partitionOf(wrongHint, 4));
  REQUIRE(wrong.receive("counters", 10, 200ms).empty());  // not returned there: forwarded
  auto byPartition = drainPartitions(receiver, "counters", 1);
  REQUIRE(byPartition.size() == 1);
  REQUIRE(byPartition.begin()->first == partitionOf("c1", 4));
  REQUIRE(byPartition.begin()->second == std::vector<std::string>{"c1"});
}

TEST_CASE("nats: a partition count that differs from the recorded one is refused",
          "[nats][partition]") {
  NatsServer server;
  NatsTransportOptions first = optionsFor(server);
  first.partitionCounts["accounts"] = 4;
  NatsTransport one(first);

  NatsTransportOptions second = optionsFor(server);
  second.partitionCounts["accounts"] = 2;
  try {
    NatsTransport other(second);
    FAIL("a second partition count was accepted");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::kPermanent);
    REQUIRE_THAT(e.what(),
                 Catch::Contains("accounts has 4 partitions") && Catch::Contains("not 2"));
  }
  second.partitionCounts["accounts"] = 4;  // the same count is fine
  NatsTransport same(second);
  REQUIRE(same.partitionCount("accounts") == 4);

  // An endpoint nobody declared is fixed at 1 by its first use.
  REQUIRE(one.partitionCount("ledger") == 1);
  NatsTransportOptions late = optionsFor(server);
  late.partitionCounts["ledger"] = 3;
  REQUIRE_THROWS_WITH(NatsTransport(late), Catch::Contains("ledger has 1 partitions"));
  REQUIRE_THROWS_WITH(NatsPartition(one, 5).receive("accounts", 1, 0ms),
                      Catch::Contains("no partition 5"));
}

}  // namespace idem::test
