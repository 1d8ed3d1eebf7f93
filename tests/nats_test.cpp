// The NATS JetStream transport against a real nats-server started per test: round trip,
// fan-out, leases, delayed retries and messages, the error stream, Nats-Msg-Id dedup, max
// deliveries, a server that is down or restarts, and an endpoint dead-lettering bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <thread>

#include "framework/nats_layout.h"
#include "idem/edge.h"
#include "idem/endpoint.h"
#include "idem/error.h"
#include "idem/nats_admin.h"
#include "idem/nats_transport.h"
#include "tests/nats_server.h"
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

Outbound message(std::string destination, std::string_view body, std::uint8_t idByte,
                 std::uint64_t type = 7) {
  Outbound m;
  m.id.bytes[0] = idByte;
  m.id.bytes[15] = 0x5a;
  m.messageType = type;
  m.destination = std::move(destination);
  m.envelope = bytesOf(body);
  return m;
}

NatsTransportOptions optionsFor(const NatsServer& server) {
  NatsTransportOptions o = natsOptionsFor(server.url());
  o.ackWait = 5000ms;
  o.publishTimeout = 2000ms;
  return o;
}

void publishOne(NatsTransport& nats, Outbound m) { nats.publish(std::span(&m, 1)); }

// Calls `f`, which must throw idem::Error; returns it.
template <typename F>
Error errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no idem::Error was thrown");
  throw std::logic_error("unreachable");
}

// Receives from `endpoint` until something arrives or `limit` passes (the server waits inside).
std::vector<Delivery> receiveWithin(NatsTransport& nats, std::string_view endpoint,
                                    std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::vector<Delivery> got;
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    got = nats.receive(endpoint, 100, 50ms);
  }
  return got;
}

std::vector<std::uint64_t> tagsOf(const std::vector<Delivery>& deliveries) {
  std::vector<std::uint64_t> tags;
  for (const Delivery& d : deliveries) tags.push_back(d.tag);
  return tags;
}

}  // namespace

TEST_CASE(
    "nats: a message sent to an endpoint is received once under a lease and gone after "
    "its ack",
    "[nats]") {
  NatsServer server;
  NatsTransport nats(optionsFor(server));
  publishOne(nats, message("a", "hello", 1));
  REQUIRE(nats.pending("a") == 1);

  auto got = receiveWithin(nats, "a");
  REQUIRE(got.size() == 1);
  REQUIRE(textOf(got[0].envelope) == "hello");
  REQUIRE(got[0].attempt == 1);
  REQUIRE(nats.receive("a", 10, 100ms).empty());  // leased: nobody else gets it
  nats.ack("a", tagsOf(got));
  REQUIRE(nats.pending("a") == 0);
  REQUIRE(nats.receive("a", 10, 0ms).empty());
}

TEST_CASE("nats: a published message reaches every subscriber of its type and nobody else",
          "[nats]") {
  NatsServer server;
  NatsTransport nats(optionsFor(server));
  nats.subscribe("x", 7);
  nats.subscribe("y", 7);
  nats.subscribe("z", 8);
  NatsTransport other(optionsFor(server));  // another process sees the subscriptions
  publishOne(other, message("", "seven", 1, 7));
  publishOne(other, message("", "nine", 2, 9));  // no subscriber: dropped

  for (const char* e : {"x", "y"}) {
    auto got = receiveWithin(nats, e);
    REQUIRE(got.size() == 1);
    REQUIRE(textOf(got[0].envelope) == "seven");
    nats.ack(e, tagsOf(got));
  }
  REQUIRE(nats.receive("z", 10, 100ms).empty());
  REQUIRE(nats.pending("x") + nats.pending("y") + nats.pending("z") == 0);
}

TEST_CASE("nats: a re-emitted copy with the same message id is dropped by the server", "[nats]") {
  NatsServer server;
  NatsTransport nats(optionsFor(server));
  publishOne(nats, message("a", "once", 1));
  publishOne(nats, message("a", "once", 1));  // re-emission: same id
  publishOne(nats, message("a", "other", 2));
  REQUIRE(nats.pending("a") == 2);
}

TEST_CASE("nats: a lease that runs out delivers the message again with attempt + 1", "[nats]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.ackWait = 300ms;
  NatsTransport nats(o);
  publishOne(nats, message("a", "leased", 1));
  auto first = receiveWithin(nats, "a");
  REQUIRE(first.size() == 1);
  // Not settled: a crashed consumer. The message comes back after the lease.
  auto again = receiveWithin(nats, "a", 5000ms);
  REQUIRE(again.size() == 1);
  REQUIRE(textOf(again[0].envelope) == "leased");
  REQUIRE(again[0].attempt == 2);
  nats.ack("a", tagsOf(again));
  nats.ack("a", tagsOf(first));  // stale: harmless
  REQUIRE(nats.pending("a") == 0);
}

TEST_CASE("nats: retryLater hands the message back after its delay with attempt + 1", "[nats]") {
  NatsServer server;
  NatsTransport nats(optionsFor(server));
  publishOne(nats, message("a", "retry me", 1));
  auto got = receiveWithin(nats, "a");
  REQUIRE(got.size() == 1);
  const auto handedBack = std::chrono::steady_clock::now();
  nats.retryLater("a", got[0].tag, 400ms);
  REQUIRE(nats.receive("a", 10, 100ms).empty());
  auto again = receiveWithin(nats, "a");
  REQUIRE(again.size() == 1);
  REQUIRE(std::chrono::steady_clock::now() - handedBack >= 350ms);
  REQUIRE(again[0].attempt == 2);
  nats.ack("a", tagsOf(again));
}

TEST_CASE("nats: a message sent for later is not delivered before its time", "[nats]") {
  NatsServer server;
  NatsTransport nats(optionsFor(server));
  Outbound later = message("a", "later", 1);
  later.deliverAt = std::chrono::system_clock::now() + 500ms;
  publishOne(nats, later);
  REQUIRE(nats.receive("a", 10, 200ms).empty());
  auto got = receiveWithin(nats, "a");
  REQUIRE(got.size() == 1);
  REQUIRE(std::chrono::system_clock::now() >= later.deliverAt);
  REQUIRE(got[0].attempt == 1);  // the deferral is not an attempt
  nats.ack("a", tagsOf(got));
}

TEST_CASE("nats: a dead-lettered delivery lands in the error stream with its bytes and reason",
          "[nats]") {
  NatsServer server;
  NatsTransport nats(optionsFor(server));
  publishOne(nats, message("a", "poison", 1));
  auto got = receiveWithin(nats, "a");
  REQUIRE(got.size() == 1);
  ErrorReport report;
  report.reason = "handler h v1 failed: 100% broken";
  report.detail = "line one\r\nline two";
  report.attempts = 4;
  report.failedAt = std::chrono::system_clock::now();
  nats.deadLetter("a", got[0].tag, report);
  REQUIRE(nats.pending("a") == 0);
  auto errors = nats.errors("a");
  REQUIRE(errors.size() == 1);
  REQUIRE(textOf(errors[0].envelope) == "poison");
  REQUIRE(errors[0].report.reason == report.reason);
  REQUIRE(errors[0].report.detail == report.detail);
  REQUIRE(errors[0].report.attempts == 4);
  REQUIRE(errors[0].report.failedAt ==
          std::chrono::time_point_cast<TimePoint::duration>(report.failedAt));
}

TEST_CASE("nats: a message delivered more than maxDeliveries times goes to the error stream",
          "[nats]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.ackWait = 200ms;
  o.maxDeliveries = 2;
  NatsTransport nats(o);
  publishOne(nats, message("a", "crasher", 1));
  for (std::uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto got = receiveWithin(nats, "a");
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].attempt == attempt);  // never settled: the consumer "crashed"
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (nats.errors("a").empty() && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(nats.receive("a", 10, 100ms).empty());
  }
  auto errors = nats.errors("a");
  REQUIRE(errors.size() == 1);
  REQUIRE(textOf(errors[0].envelope) == "crasher");
  REQUIRE(errors[0].report.reason.find("delivered 3 times") != std::string::npos);
  REQUIRE(nats.pending("a") == 0);
}

TEST_CASE("nats: no server at start is a transient error naming the URL", "[nats]") {
  std::string url;
  {
    NatsServer server;
    url = server.url();
  }  // stopped: nobody listens there now
  NatsTransportOptions o = natsOptionsFor(url);
  o.connectTimeout = 500ms;
  try {
    NatsTransport nats(o);
    FAIL("connected to a stopped server");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::kTransient);
    REQUIRE(std::string(e.what()).find(url) != std::string::npos);
  }
}

TEST_CASE(
    "nats: publishing while the server is down fails transiently and works after it "
    "restarts, losing nothing",
    "[nats]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.publishTimeout = 500ms;
  o.reconnectWait = 50ms;
  NatsTransport nats(o);
  publishOne(nats, message("a", "before", 1));
  server.stop();
  try {
    publishOne(nats, message("a", "during", 2));
    FAIL("a publish was confirmed with the server down");
  } catch (const Error& e) {
    REQUIRE(e.kind() == ErrorKind::kTransient);
  }
  server.start();
  // The pipeline retries the same publish: the same ids, deduplicated if the first got through.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    try {
      publishOne(nats, message("a", "during", 2));
      break;
    } catch (const Error& e) {
      REQUIRE(e.kind() == ErrorKind::kTransient);
      REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
  }
  std::vector<std::string> bodies;
  while (bodies.size() < 2) {
    auto got = receiveWithin(nats, "a");
    REQUIRE(!got.empty());
    for (const Delivery& d : got) bodies.push_back(textOf(d.envelope));
    nats.ack("a", tagsOf(got));
  }
  std::sort(bodies.begin(), bodies.end());
  REQUIRE(bodies == std::vector<std::string>{"before", "during"});
  // Acks reach the server asynchronously: wait for the work queue to remove both.
  const auto drained = std::chrono::steady_clock::now() + 5s;
  while (nats.pending("a") != 0) {
    REQUIRE(std::chrono::steady_clock::now() < drained);
    REQUIRE(receiveWithin(nats, "a", 20ms).empty());  // and no third copy is ever delivered
  }
}

TEST_CASE("nats: an endpoint dead-letters bytes that are not an idem envelope and keeps running",
          "[nats][pipeline]") {
  NatsServer server;
  TempDir dir("idem-nats-endpoint");
  NatsTransport nats(optionsFor(server));
  EndpointOptions options;
  options.storeDirectory = dir / "store";
  options.durable = false;
  Endpoint endpoint(counterHandlers("counters"), nats, options);

  publishOne(nats, message("counters", "definitely not capnp", 1));
  const EdgeAddress address{MessageId::forEdge("test", "inc-1"), "counters",
                            std::chrono::system_clock::now()};
  Bytes good = edgeMessage<Increment>(address, [](Increment::Builder m) {
    m.setCounterId("c1");
    m.setBy(2);
  });
  Outbound goodOut = edgeOutbound(address, capnp::typeId<Increment>(), std::move(good));
  nats.publish(std::span(&goodOut, 1));

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (endpoint.stats().processed + endpoint.stats().deadLettered < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    endpoint.processBatch();
  }
  REQUIRE(endpoint.stats().processed == 1);
  REQUIRE(endpoint.stats().deadLettered == 1);
  auto errors = nats.errors("counters");
  REQUIRE(errors.size() == 1);
  REQUIRE(textOf(errors[0].envelope) == "definitely not capnp");
  REQUIRE(!errors[0].report.reason.empty());
  REQUIRE(nats.pending("counters") == 0);
}

// Issue 12, defect 3: an output the server can never take was retried as transient until its
// input was dead-lettered for too many deliveries, with the outputs of its committed version
// never published. These pin what checkOutbound() refuses before commit and what publish()
// calls permanent, overloaded or transient.

TEST_CASE(
    "nats: an output over the server's max_payload is refused by checkOutbound before its "
    "version commits, and one exactly at the limit is published",
    "[nats]") {
  NatsServer server({.maxPayload = 4096});
  NatsTransport nats(optionsFor(server));
  const std::size_t room = 4096 - detail::nats::inputHeaderBytes(0);
  Outbound fits = message("a", std::string(room, 'x'), 1);
  fits.committed = true;
  nats.checkOutbound(fits);
  publishOne(nats, fits);  // the server agrees with the header count: not one byte too many
  REQUIRE(nats.pending("a") == 1);

  Outbound over = message("a", std::string(room + 1, 'x'), 2);
  const Error e = errorOf([&] { nats.checkOutbound(over); });
  REQUIRE(e.kind() == ErrorKind::kPermanent);
  REQUIRE_THAT(e.what(),
               Catch::Contains("max_payload of 4096") && Catch::Contains(over.id.toHex()));

  Outbound later = fits;  // its Idem-Deliver-At header counts too
  later.id.bytes[0] = 3;
  later.deliverAt = std::chrono::system_clock::now() + 1h;
  REQUIRE(errorOf([&] { nats.checkOutbound(later); }).kind() == ErrorKind::kPermanent);

  Outbound badName = message("no.dots", "x", 4);
  REQUIRE(errorOf([&] { nats.checkOutbound(badName); }).kind() == ErrorKind::kPermanent);
}

TEST_CASE(
    "nats: a committed output the server refuses for good is reported as permanent at once, "
    "not as transient after the publish timeout, and the rest of its batch is published",
    "[nats]") {
  NatsServer server({.maxPayload = 4096});
  NatsTransportOptions o = optionsFor(server);
  o.publishTimeout = 3000ms;
  NatsTransport nats(o);
  std::vector<Outbound> batch{message("a", "small", 1), message("a", std::string(5000, 'x'), 2),
                              message("a", "also small", 3)};
  for (Outbound& m : batch) m.committed = true;
  const auto started = std::chrono::steady_clock::now();
  const Error e = errorOf([&] { nats.publish(batch); });
  REQUIRE(e.kind() == ErrorKind::kPermanent);
  REQUIRE_THAT(e.what(), Catch::Contains(batch[1].id.toHex()));
  REQUIRE(std::chrono::steady_clock::now() - started < 1000ms);
  REQUIRE(nats.pending("a") == 2);
}

TEST_CASE(
    "nats: a publish to an endpoint whose stream was deleted is transient, and the retry "
    "re-creates the stream and delivers",
    "[nats]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.publishTimeout = 1000ms;
  NatsTransport nats(o);
  publishOne(nats, message("a", "before", 1));
  NatsAdmin(o).deleteStreams("a");  // by an operator: no stream takes idem.in.a.> now
  const Error e = errorOf([&] { publishOne(nats, message("a", "after", 2)); });
  REQUIRE(e.kind() == ErrorKind::kTransient);  // no responders: idem creates its streams itself
  publishOne(nats, message("a", "after", 2));  // the pipeline's retry
  auto got = receiveWithin(nats, "a");
  REQUIRE(got.size() == 1);
  REQUIRE(textOf(got[0].envelope) == "after");
  nats.ack("a", tagsOf(got));
}

TEST_CASE("nats: a publish no server acknowledges (server killed) stays transient", "[nats]") {
  NatsServer server;
  NatsTransportOptions o = optionsFor(server);
  o.publishTimeout = 500ms;
  NatsTransport nats(o);
  publishOne(nats, message("a", "before", 1));
  server.kill();
  Outbound m = message("a", "during", 2);
  m.committed = true;
  nats.checkOutbound(m);  // no I/O: still answers with the server gone
  const Error e = errorOf([&] { publishOne(nats, m); });
  REQUIRE(e.kind() == ErrorKind::kTransient);
}

}  // namespace idem::test
