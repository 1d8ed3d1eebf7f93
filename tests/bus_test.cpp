// The embedded transport (the bus): queues, leases, delays, error queue, back-pressure, several
// processes on one queue, damaged files, durability across reopen, and an endpoint running on it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "framework/bus_doorbell.h"
#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"
#include "idem/error.h"
#include "store/version_store.h"
#include "tests/temp_dir.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;

Bytes bytesOf(std::string_view s) {
  auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

std::string textOf(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Outbound to(std::string destination, std::string_view body, std::uint64_t type = 7) {
  Outbound m;
  m.messageType = type;
  m.destination = std::move(destination);
  m.envelope = bytesOf(body);
  return m;
}

EmbeddedTransportOptions optionsIn(const TempDir& dir) {
  EmbeddedTransportOptions o;
  o.busDirectory = dir / "bus";
  o.durable = false;  // fsync adds nothing to what these tests can observe in one process
  return o;
}

std::vector<std::uint64_t> tagsOf(const std::vector<Delivery>& deliveries) {
  std::vector<std::uint64_t> tags;
  tags.reserve(deliveries.size());
  for (const Delivery& d : deliveries) tags.push_back(d.tag);
  return tags;
}

// Receives from `endpoint` until something arrives or `limit` passes (the bus waits inside).
std::vector<Delivery> receiveWithin(EmbeddedTransport& bus, std::string_view endpoint,
                                    std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::vector<Delivery> got;
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    got = bus.receive(endpoint, 100, 50ms);
  }
  return got;
}

void requireQueue(const EmbeddedTransport& bus, std::string_view endpoint, std::uint64_t ready,
                  std::uint64_t inFlight, std::uint64_t delayed, std::uint64_t errors) {
  const QueueStats q = bus.queue(endpoint);
  INFO(endpoint << ": ready " << q.ready << ", in flight " << q.inFlight << ", delayed "
                << q.delayed << ", errors " << q.errors);
  REQUIRE(q.ready == ready);
  REQUIRE(q.inFlight == inFlight);
  REQUIRE(q.delayed == delayed);
  REQUIRE(q.errors == errors);
}

}  // namespace

TEST_CASE("a message sent to an endpoint is received once under a lease and gone after its ack",
          "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound batch[] = {to("a", "one"), to("a", "two")};
  bus.publish(batch);
  requireQueue(bus, "a", 2, 0, 0, 0);

  auto got = bus.receive("a", 10, 0ms);
  REQUIRE(got.size() == 2);
  CHECK(textOf(got[0].envelope) == "one");
  CHECK(textOf(got[1].envelope) == "two");
  CHECK(got[0].attempt == 1);
  CHECK(got[0].tag != got[1].tag);
  requireQueue(bus, "a", 0, 2, 0, 0);
  REQUIRE(bus.receive("a", 10, 0ms).empty());  // leased: invisible to other consumers

  bus.ack("a", tagsOf(got));
  requireQueue(bus, "a", 0, 0, 0, 0);
  REQUIRE(bus.receive("a", 10, 0ms).empty());
}

TEST_CASE("a message to an endpoint nobody serves yet waits in its queue", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound batch[] = {to("nobody-yet", "hello")};
  bus.publish(batch);
  requireQueue(bus, "nobody-yet", 1, 0, 0, 0);
  auto got = bus.receive("nobody-yet", 1, 0ms);
  REQUIRE(got.size() == 1);
  CHECK(textOf(got[0].envelope) == "hello");
}

TEST_CASE("a published message reaches every endpoint subscribed to its type and no other",
          "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  bus.subscribe("b", 7);
  bus.subscribe("c", 7);
  bus.subscribe("c", 7);  // idempotent
  bus.subscribe("d", 8);
  const Outbound batch[] = {to("", "news")};
  bus.publish(batch);

  for (const char* endpoint : {"b", "c"}) {
    auto got = bus.receive(endpoint, 10, 0ms);
    REQUIRE(got.size() == 1);
    CHECK(textOf(got[0].envelope) == "news");
  }
  REQUIRE(bus.receive("d", 10, 0ms).empty());
  std::vector<std::string> names;
  for (const QueueStats& q : bus.queues()) names.push_back(q.endpoint);
  CHECK(names == std::vector<std::string>{"b", "c", "d"});
}

TEST_CASE("a lease that runs out makes the message receivable again with attempt + 1", "[bus]") {
  TempDir dir("idem-bus");
  auto options = optionsIn(dir);
  options.leaseTimeout = 50ms;
  EmbeddedTransport bus(options);
  const Outbound batch[] = {to("a", "job")};
  bus.publish(batch);
  auto first = bus.receive("a", 1, 0ms);
  REQUIRE(first.size() == 1);

  auto again = receiveWithin(bus, "a");  // the first consumer "hung": never settles
  REQUIRE(again.size() == 1);
  CHECK(textOf(again[0].envelope) == "job");
  CHECK(again[0].attempt == 2);
  CHECK(again[0].tag != first[0].tag);
  requireQueue(bus, "a", 0, 1, 0, 0);
}

TEST_CASE(
    "an ack of a lease that expired and was taken over does not delete the new holder's "
    "message",
    "[bus]") {
  TempDir dir("idem-bus");
  auto options = optionsIn(dir);
  options.leaseTimeout = 50ms;
  EmbeddedTransport bus(options);
  const Outbound batch[] = {to("a", "job")};
  bus.publish(batch);
  auto stale = bus.receive("a", 1, 0ms);
  auto current = receiveWithin(bus, "a");
  REQUIRE(current.size() == 1);

  bus.ack("a", tagsOf(stale));  // ignored
  bus.retryLater("a", stale[0].tag, 0ms);
  bus.deadLetter("a", stale[0].tag, {"stale", "", 1, {}});
  requireQueue(bus, "a", 0, 1, 0, 0);

  bus.ack("a", tagsOf(current));
  requireQueue(bus, "a", 0, 0, 0, 0);
}

TEST_CASE("a consumer killed while holding a lease loses it, and the lease's late ack is ignored",
          "[bus][process]") {
  TempDir dir("idem-bus");
  auto options = optionsIn(dir);
  options.leaseTimeout = 50ms;
  {
    EmbeddedTransport bus(options);
    const Outbound batch[] = {to("a", "job")};
    bus.publish(batch);
  }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      EmbeddedTransport bus(options);
      if (bus.receive("a", 1, 0ms).size() == 1) ::raise(SIGKILL);  // dies holding the lease
    } catch (...) {
    }
    ::_exit(3);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));

  EmbeddedTransport bus(options);
  requireQueue(bus, "a", 0, 1, 0, 0);
  auto again = receiveWithin(bus, "a");
  REQUIRE(again.size() == 1);
  CHECK(again[0].attempt == 2);
  CHECK(textOf(again[0].envelope) == "job");
}

TEST_CASE("a lease that expired but was not taken over can still be acked by its holder", "[bus]") {
  TempDir dir("idem-bus");
  auto options = optionsIn(dir);
  options.leaseTimeout = 1ms;
  EmbeddedTransport bus(options);
  const Outbound batch[] = {to("a", "slow")};
  bus.publish(batch);
  auto got = bus.receive("a", 1, 0ms);
  REQUIRE(got.size() == 1);
  const auto expiredAt = std::chrono::steady_clock::now() + 2ms;
  while (std::chrono::steady_clock::now() < expiredAt) {
    // nobody receives from "a" meanwhile, so nothing takes the expired lease back
  }
  bus.ack("a", tagsOf(got));
  requireQueue(bus, "a", 0, 0, 0, 0);
}

TEST_CASE("publishing to an invalid endpoint name is refused as permanent and writes nothing",
          "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound batch[] = {to("ok", "1"), to(std::string("bad\0name", 8), "2")};
  try {
    bus.publish(batch);
    FAIL("an invalid destination was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kPermanent);
  }
  requireQueue(bus, "ok", 0, 0, 0, 0);
  REQUIRE_THROWS_AS(bus.publish(std::vector<Outbound>{to(std::string(256, 'x'), "3")}), Error);
}

TEST_CASE("retryLater hides the message until its delay has passed, then delivers attempt + 1",
          "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound batch[] = {to("a", "flaky")};
  bus.publish(batch);
  auto first = bus.receive("a", 1, 0ms);
  REQUIRE(first.size() == 1);

  const auto retriedAt = std::chrono::steady_clock::now();
  bus.retryLater("a", first[0].tag, 100ms);
  requireQueue(bus, "a", 0, 0, 1, 0);
  auto again = receiveWithin(bus, "a");
  REQUIRE(again.size() == 1);
  CHECK(std::chrono::steady_clock::now() - retriedAt >= 100ms);
  CHECK(again[0].attempt == 2);
  CHECK(textOf(again[0].envelope) == "flaky");
}

TEST_CASE("a message published with a future delivery time is delayed until then", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  Outbound later = to("a", "timeout");
  later.deliverAt = std::chrono::system_clock::now() + 100ms;
  bus.publish(std::span(&later, 1));
  requireQueue(bus, "a", 0, 0, 1, 0);
  REQUIRE(bus.receive("a", 1, 0ms).empty());
  auto got = receiveWithin(bus, "a");
  REQUIRE(got.size() == 1);
  CHECK(std::chrono::system_clock::now() >= later.deliverAt);
  CHECK(got[0].attempt == 1);
}

TEST_CASE("deadLetter keeps the original bytes, reason, detail, attempts and time", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound batch[] = {to("a", std::string("bad\0bytes", 9))};
  bus.publish(batch);
  auto got = bus.receive("a", 1, 0ms);
  REQUIRE(got.size() == 1);
  const TimePoint failedAt = TimePoint(std::chrono::seconds(1'800'000'000));
  bus.deadLetter("a", got[0].tag, {"unknown message type 0x7", "line one\nline two", 4, failedAt});
  requireQueue(bus, "a", 0, 0, 0, 1);

  auto errors = bus.errors("a");
  REQUIRE(errors.size() == 1);
  CHECK(textOf(errors[0].envelope) == std::string("bad\0bytes", 9));
  CHECK(errors[0].report.reason == "unknown message type 0x7");
  CHECK(errors[0].report.detail == "line one\nline two");
  CHECK(errors[0].report.attempts == 4);
  CHECK(errors[0].report.failedAt == failedAt);
  REQUIRE(bus.receive("a", 1, 0ms).empty());
}

TEST_CASE("an error can be retried with its attempt count reset, or purged", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound batch[] = {to("a", "x"), to("a", "y"), to("a", "z")};
  bus.publish(batch);
  auto got = bus.receive("a", 3, 0ms);
  REQUIRE(got.size() == 3);
  for (const Delivery& d : got) bus.deadLetter("a", d.tag, {"failed", "", 5, {}});
  auto errors = bus.errors("a");
  REQUIRE(errors.size() == 3);

  REQUIRE(bus.retryErrors("a", errors[0].id) == 1);
  REQUIRE(bus.retryErrors("a", errors[0].id) == 0);  // gone from the error queue
  requireQueue(bus, "a", 1, 0, 0, 2);
  auto retried = bus.receive("a", 10, 0ms);
  REQUIRE(retried.size() == 1);
  CHECK(textOf(retried[0].envelope) == "x");
  CHECK(retried[0].attempt == 1);

  REQUIRE(bus.purgeErrors("a", errors[1].id) == 1);
  REQUIRE(bus.errors("a").size() == 1);
  REQUIRE(bus.purgeErrors("a") == 1);
  requireQueue(bus, "a", 0, 1, 0, 0);
}

TEST_CASE("publishing past an endpoint's maximum depth throws overloaded and writes nothing",
          "[bus]") {
  TempDir dir("idem-bus");
  auto options = optionsIn(dir);
  options.maxDepth = 3;
  EmbeddedTransport bus(options);
  const Outbound two[] = {to("a", "1"), to("a", "2")};
  bus.publish(two);
  const Outbound mixed[] = {to("b", "fits"), to("a", "3"), to("a", "4")};
  try {
    bus.publish(mixed);
    FAIL("publish past the depth did not throw");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kOverloaded);
    CHECK_THAT(e.what(), Catch::Contains("'a'"));
  }
  requireQueue(bus, "a", 2, 0, 0, 0);
  requireQueue(bus, "b", 0, 0, 0, 0);

  auto got = bus.receive("a", 1, 0ms);  // leased messages still count toward the depth
  const Outbound two_more[] = {to("a", "3"), to("a", "4")};
  REQUIRE_THROWS_AS(bus.publish(two_more), Error);
  bus.ack("a", tagsOf(got));
  bus.publish(two_more);
  requireQueue(bus, "a", 3, 0, 0, 0);
}

TEST_CASE("two processes competing on one queue receive every message exactly once",
          "[bus][process]") {
  TempDir dir("idem-bus");
  constexpr int kMessages = 500;
  {
    EmbeddedTransport bus(optionsIn(dir));
    std::vector<Outbound> batch;
    batch.reserve(kMessages);
    for (int i = 0; i < kMessages; ++i) batch.push_back(to("work", "m" + std::to_string(i)));
    bus.publish(batch);
  }  // closed: each process opens its own environment after the fork

  std::vector<pid_t> children;
  for (int c = 0; c < 2; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        EmbeddedTransport bus(optionsIn(dir));
        std::ofstream out(dir / ("got-" + std::to_string(c)));
        for (;;) {
          auto got = bus.receive("work", 7, 20ms);
          if (got.empty()) {
            if (bus.queue("work").ready == 0) break;
            continue;
          }
          for (const Delivery& d : got) out << textOf(d.envelope) << '\n';
          out.flush();
          bus.ack("work", tagsOf(got));
        }
      } catch (...) {
        code = 3;
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }

  std::multiset<std::string> seen;
  for (int c = 0; c < 2; ++c) {
    std::ifstream in(dir / ("got-" + std::to_string(c)));
    for (std::string line; std::getline(in, line);) seen.insert(line);
  }
  REQUIRE(seen.size() == kMessages);
  for (int i = 0; i < kMessages; ++i) REQUIRE(seen.count("m" + std::to_string(i)) == 1);
  EmbeddedTransport bus(optionsIn(dir));
  requireQueue(bus, "work", 0, 0, 0, 0);
}

// With a broken doorbell receive() would sleep until its next look, one lease timeout (30 s)
// away, and return later than the bound below: the consumer is waiting before the publish.
TEST_CASE("receive wakes up when another thread publishes, well before its wait ends", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  detail::BusDoorbell bell(dir / "bus" / "doorbell");
  std::thread publisher([&] {
    while (bell.waiting("a") == 0) std::this_thread::yield();
    const Outbound batch[] = {to("a", "wake")};
    bus.publish(batch);
  });
  const auto start = std::chrono::steady_clock::now();
  auto got = bus.receive("a", 1, 60'000ms);
  publisher.join();
  REQUIRE(got.size() == 1);
  CHECK(std::chrono::steady_clock::now() - start < 15s);
}

TEST_CASE("a publish to one queue rings its doorbell and not another queue's", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  detail::BusDoorbell bell(dir / "bus" / "doorbell");
  REQUIRE(detail::BusDoorbell::slotOf("a") != detail::BusDoorbell::slotOf("b"));
  const std::uint32_t a = bell.ticket("a");
  const std::uint32_t b = bell.ticket("b");
  const Outbound batch[] = {to("a", "for a")};
  bus.publish(batch);
  CHECK(bell.ticket("a") != a);
  CHECK(bell.ticket("b") == b);
  // And a consumer of b finds nothing: its look neither leases nor writes.
  const BusCommits before = bus.commits();
  CHECK(bus.receive("b", 10, 0ms).empty());
  CHECK(bus.commits().commits == before.commits);
}

TEST_CASE("a lease on an empty queue, or one whose messages are all leased, writes nothing",
          "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  bus.subscribe("a", 7);
  const BusCommits fresh = bus.commits();
  for (int i = 0; i < 5; ++i) CHECK(bus.receive("a", 10, 0ms).empty());
  CHECK(bus.commits().commits == fresh.commits);
  CHECK(bus.commits().pagesWritten == fresh.pagesWritten);

  const Outbound batch[] = {to("a", "one")};
  bus.publish(batch);
  auto held = bus.receive("a", 10, 0ms);
  REQUIRE(held.size() == 1);
  const BusCommits leased = bus.commits();
  for (int i = 0; i < 5; ++i) CHECK(bus.receive("a", 10, 0ms).empty());  // its lease is held
  CHECK(bus.commits().commits == leased.commits);
  CHECK(bus.commits().pagesWritten == leased.pagesWritten);
  bus.ack("a", tagsOf(held));
  requireQueue(bus, "a", 0, 0, 0, 0);
}

TEST_CASE("settle stores the outputs, acks the inputs and leases the next batch in one commit",
          "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  const Outbound inputs[] = {to("in", "1"), to("in", "2"), to("in", "3")};
  bus.publish(inputs);
  auto first = bus.receive("in", 1, 0ms);
  REQUIRE(first.size() == 1);
  const BusCommits before = bus.commits();
  const Outbound outputs[] = {to("out", "from 1")};
  auto next = bus.settle("in", outputs, tagsOf(first), 10);
  CHECK(bus.commits().commits - before.commits == 1);
  REQUIRE(next.size() == 2);
  CHECK(textOf(next[0].envelope) == "2");
  CHECK(textOf(next[1].envelope) == "3");
  requireQueue(bus, "in", 0, 2, 0, 0);
  requireQueue(bus, "out", 1, 0, 0, 0);
  // The leases it took are ordinary leases: acked like any other.
  CHECK(bus.settle("in", {}, tagsOf(next), 0).empty());
  requireQueue(bus, "in", 0, 0, 0, 0);
}

TEST_CASE("a settle whose outputs are refused acks nothing and leases nothing", "[bus]") {
  TempDir dir("idem-bus");
  EmbeddedTransportOptions options = optionsIn(dir);
  options.maxDepth = 1;
  EmbeddedTransport bus(options);
  const Outbound inputs[] = {to("in", "1"), to("full", "x")};
  bus.publish(inputs);
  auto first = bus.receive("in", 1, 0ms);
  REQUIRE(first.size() == 1);
  const Outbound outputs[] = {to("full", "y")};  // not committed: meets back-pressure
  try {
    (void)bus.settle("in", outputs, tagsOf(first), 10);
    FAIL("settle past maxDepth was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kOverloaded);
  }
  requireQueue(bus, "in", 0, 1, 0, 0);  // still leased: not acked
  requireQueue(bus, "full", 1, 0, 0, 0);
}

TEST_CASE("a damaged bus file is refused at open with an error naming the file", "[bus]") {
  TempDir dir("idem-bus");
  const auto file = dir / "bus" / "data.mdb";
  SECTION("not an LMDB file") {
    std::filesystem::create_directories(dir / "bus");
    std::ofstream(file) << std::string(std::size_t{64} << 10, '\xab');
  }
  SECTION("truncated") {
    {
      EmbeddedTransport bus(optionsIn(dir));
      const Outbound batch[] = {to("a", "x")};
      bus.publish(batch);
    }
    std::filesystem::resize_file(file, 5000);
  }
  SECTION("an endpoint's version store, not a bus") {
    store::VersionStore versions(dir / "bus", "someone");
  }
  try {
    EmbeddedTransport bus(optionsIn(dir));
    FAIL("a damaged bus opened");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::kPermanent);
    CHECK_THAT(e.what(), Catch::Contains(file.string()));
  }
}

TEST_CASE("queued, leased, delayed and dead-lettered messages survive closing and reopening",
          "[bus]") {
  TempDir dir("idem-bus");
  auto options = optionsIn(dir);
  options.durable = true;
  std::uint64_t leasedTag = 0;
  {
    EmbeddedTransport bus(options);
    bus.subscribe("a", 9);
    const Outbound batch[] = {to("a", "ready"), to("a", "leased"), to("a", "dead")};
    bus.publish(batch);
    auto got = bus.receive("a", 2, 0ms);
    REQUIRE(got.size() == 2);
    leasedTag = got[0].tag;
    bus.retryLater("a", got[1].tag, 3'600'000ms);
    auto dead = bus.receive("a", 1, 0ms);
    REQUIRE(dead.size() == 1);
    bus.deadLetter("a", dead[0].tag, {"why", "", 1, {}});
  }
  EmbeddedTransport bus(options);
  requireQueue(bus, "a", 0, 1, 1, 1);
  REQUIRE(bus.errors("a").size() == 1);
  CHECK(textOf(bus.errors("a")[0].envelope) == "dead");
  const Outbound published[] = {to("", "by type", 9)};
  bus.publish(published);  // the subscription survived too
  auto got = bus.receive("a", 10, 0ms);
  REQUIRE(got.size() == 1);
  CHECK(textOf(got[0].envelope) == "by type");
  bus.ack("a", std::span(&leasedTag, 1));  // the lease from before the reopen is still valid
  requireQueue(bus, "a", 0, 1, 1, 1);
}

TEST_CASE("endpoints over the embedded transport deliver each counter output once to the sink",
          "[bus][pipeline]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  auto endpointOptions = [&](const char* name) {
    EndpointOptions o;
    o.storeDirectory = dir / name;
    o.durable = false;
    o.batchWait = 0ms;
    return o;
  };
  Endpoint counters(counterHandlers("counters"), bus, endpointOptions("counters"));
  Endpoint sink(sinkHandlers("sink"), bus, endpointOptions("sink"));

  constexpr std::uint64_t kInputs = 20;
  std::vector<Outbound> inputs;
  for (std::uint64_t i = 0; i < kInputs; ++i) {
    EdgeAddress address{MessageId::forEdge("test", "inc-" + std::to_string(i)), "counters", {}};
    Bytes envelope = edgeMessage<Increment>(address, [&](Increment::Builder m) {
      m.setCounterId("c" + std::to_string(i % 3));
      m.setBy(1);
      m.setOutputs(2);
    });
    inputs.push_back(edgeOutbound(address, capnp::typeId<Increment>(), envelope));
  }
  inputs.push_back(inputs.front());  // a duplicate from the sender
  bus.publish(inputs);

  for (int round = 0; round < 100; ++round) {
    const std::size_t handled = counters.processBatch() + sink.processBatch();
    if (handled == 0 && bus.queue("counters").ready == 0 && bus.queue("sink").ready == 0) break;
  }
  CHECK(counters.stats().processed == kInputs);
  CHECK(counters.stats().duplicates == 1);
  CHECK(counters.stats().published == 2 * (kInputs + 1));  // the duplicate re-emits its two
  CHECK(sink.stats().processed == 2 * kInputs);
  CHECK(sink.stats().duplicates + sink.stats().alreadyPublished == 2);  // the re-emitted pair
  requireQueue(bus, "counters", 0, 0, 0, 0);
  requireQueue(bus, "sink", 0, 0, 0, 0);
}

// Over the bus, publish and ack are one step: the after-publish crash point comes after both,
// before the confirmations are recorded. Nothing is lost: the versions stay owed, and the
// restarted endpoint's owed sweep publishes their outputs again.
TEST_CASE("a crash after an atomic settle leaves its versions owed, and the owed sweep re-emits",
          "[bus][pipeline][crash]") {
  TempDir dir("idem-bus");
  EmbeddedTransport bus(optionsIn(dir));
  EndpointOptions o;
  o.storeDirectory = dir / "counters";
  o.durable = false;
  o.batchWait = 0ms;
  Endpoint sink(sinkHandlers("sink"), bus, [&] {
    EndpointOptions s = o;
    s.storeDirectory = dir / "sink";
    return s;
  }());
  EdgeAddress address{MessageId::forEdge("test", "inc"), "counters", {}};
  Bytes envelope = edgeMessage<Increment>(address, [&](Increment::Builder m) {
    m.setCounterId("c");
    m.setBy(1);
    m.setOutputs(2);
  });
  const Outbound input[] = {edgeOutbound(address, capnp::typeId<Increment>(), envelope)};
  bus.publish(input);
  {
    EndpointOptions crashing = o;
    crashing.faultHook = [](FaultPoint point) {
      if (point == FaultPoint::kAfterPublish) throw std::runtime_error("crash after publish");
    };
    Endpoint counters(counterHandlers("counters"), bus, crashing);
    CHECK_THROWS_WITH(counters.processBatch(), "crash after publish");
  }
  requireQueue(bus, "counters", 0, 0, 0, 0);  // acked together with its outputs
  requireQueue(bus, "sink", 2, 0, 0, 0);

  o.reemitOwedAfter = 0ms;
  Endpoint restarted(counterHandlers("counters"), bus, o);
  CHECK(restarted.processBatch() == 0);  // an idle step: the owed sweep
  CHECK(restarted.stats().reemittedOwed == 1);
  requireQueue(bus, "sink", 4, 0, 0, 0);
  for (int round = 0; round < 10 && sink.processBatch() > 0; ++round) {
  }
  CHECK(sink.stats().processed == 2);
  CHECK(sink.stats().duplicates + sink.stats().alreadyPublished == 2);
}

}  // namespace idem::test
