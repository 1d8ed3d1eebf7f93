// Endpoints on threads: a Host running a chain of endpoints over the embedded bus while other
// threads publish, and consumers blocked on the doorbell. What the ThreadSanitizer pass runs
// (`make test-tsan`), besides the NATS tests whose callbacks run on nats.c's threads.
#include <catch2/catch.hpp>
#include <thread>

#include "idem/edge.h"
#include "idem/embedded_transport.h"
#include "idem/host.h"
#include "tests/temp_dir.h"
#include "tests/test_endpoints.h"

namespace idem::test {
namespace {

using namespace std::chrono_literals;

Outbound incrementTo(const std::string& endpoint, const std::string& key,
                     const std::string& counter, const std::string& forward) {
  const EdgeAddress address{MessageId::forEdge("test", key), endpoint, {}};
  return edgeOutbound(address, capnp::typeId<Increment>(),
                      edgeMessage<Increment>(address, [&](Increment::Builder m) {
                        m.setCounterId(counter);
                        m.setBy(1);
                        m.setOutputs(2);
                        m.setForward(forward);
                      }));
}

}  // namespace

TEST_CASE(
    "a host runs a chain of endpoints on threads while two threads publish, and drains on "
    "requestStop",
    "[threads][host][bus]") {
  TempDir dir("idem-threads");
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = dir / "bus";
  busOptions.durable = false;
  EmbeddedTransport bus(busOptions);
  auto options = [&](const std::string& name) {
    EndpointOptions o;
    o.storeDirectory = dir / name;
    o.durable = false;
    o.batchSize = 8;
    return o;
  };
  Host host;
  Endpoint counters(counterHandlers("counters"), bus, options("counters"));
  Endpoint sink(sinkHandlers("sink"), bus, options("sink"));
  host.add(counters);
  host.add(sink);

  constexpr int kPerPublisher = 100;
  std::vector<std::jthread> publishers;
  for (int p = 0; p < 2; ++p) {
    publishers.emplace_back([&, p] {
      for (int i = 0; i < kPerPublisher; ++i) {
        const std::string key = "p" + std::to_string(p) + "-" + std::to_string(i);
        // Every fifth is sent twice: a duplicate from the sender, possibly handled concurrently.
        std::vector<Outbound> batch{
            incrementTo("counters", key, "c" + std::to_string(i % 5), "sink")};
        if (i % 5 == 0) batch.push_back(batch.front());
        bus.publish(batch);
      }
    });
  }
  std::jthread stopper([&] {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline &&
           sink.stats().processed < 2 * 2 * kPerPublisher) {
      std::this_thread::sleep_for(5ms);
    }
    host.requestStop();
  });
  host.run();
  publishers.clear();
  CHECK(counters.stats().processed == 2 * kPerPublisher);
  CHECK(sink.stats().processed == 2 * 2 * kPerPublisher);  // two outputs per input, each once
  CHECK(bus.queue("counters").ready == 0);
  CHECK(bus.queue("counters").inFlight == 0);
}

TEST_CASE("consumers blocked on the doorbell are woken by a publish from another thread",
          "[threads][bus]") {
  TempDir dir("idem-threads");
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = dir / "bus";
  busOptions.durable = false;
  EmbeddedTransport bus(busOptions);
  std::atomic<int> received{0};
  std::vector<std::jthread> consumers;
  for (const std::string endpoint : {"a", "b"}) {
    consumers.emplace_back([&, endpoint] {
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      while (received.load() < 20 && std::chrono::steady_clock::now() < deadline) {
        std::vector<Delivery> got = bus.receive(endpoint, 4, 200ms);
        std::vector<std::uint64_t> tags;
        for (const Delivery& d : got) tags.push_back(d.tag);
        bus.ack(endpoint, tags);
        received += static_cast<int>(got.size());
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    bus.publish(std::vector<Outbound>{incrementTo("a", "a" + std::to_string(i), "c", ""),
                                      incrementTo("b", "b" + std::to_string(i), "c", "")});
  }
  consumers.clear();
  CHECK(received.load() == 20);
}

}  // namespace idem::test
