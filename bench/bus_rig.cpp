// BusRig: sender thread, worker thread (endpoint or relay) and observer over one embedded bus.
#include "bench/bus_rig.h"

#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "bench/bench_endpoint.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"

namespace idem::bench {

namespace {

constexpr const char* kObserver = "observer";

void relay(Transport& bus, std::size_t batch, const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    std::vector<Delivery> deliveries =
        bus.receive(kEndpointName, batch, std::chrono::milliseconds{5});
    if (deliveries.empty()) continue;
    std::vector<Outbound> outputs;
    std::vector<std::uint64_t> tags;
    for (const Delivery& d : deliveries) {
      outputs.push_back(countedOutbound(incrementFacts(d.envelope)));
      tags.push_back(d.tag);
    }
    bus.publish(outputs);
    bus.ack(kEndpointName, tags);
  }
}

}  // namespace

BusRun runOverBus(const Settings& s, BusWorker kind, double rate) {
  ScratchDir dir(kind == BusWorker::kEndpoint ? "bus-idem" : "bus-relay");
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = dir.path() / "bus";
  busOptions.durable = s.durable;
  EmbeddedTransport bus(busOptions);
  std::optional<Endpoint> endpoint;
  if (kind == BusWorker::kEndpoint) {
    EndpointOptions options;
    options.storeDirectory = dir.path() / "store";
    options.batchSize = s.batch;
    options.durable = s.durable;
    endpoint.emplace(counterHandlers(), bus, options);
  }
  return runRig(
      s, bus,
      [&](std::stop_token stop) {
        if (endpoint) {
          endpoint->run(stop);
        } else {
          relay(bus, s.batch, stop);
        }
      },
      rate);
}

BusRun runRig(const Settings& s, Transport& bus, const std::function<void(std::stop_token)>& work,
              double rate) {
  bus.subscribe(kObserver, capnp::typeId<Counted>());
  // Warm-up messages first (seq 0..E-1, one per entity), then the timed ones.
  const std::uint64_t warm = s.entities;
  const std::uint64_t total = warm + s.messages;
  std::vector<Outbound> outbound;
  outbound.reserve(total);
  for (std::uint64_t seq = 0; seq < total; ++seq) {
    outbound.push_back(
        incrementOutbound(seq, seq < warm ? seq + 1 : entityOf(seq - warm, s.entities)));
  }
  std::vector<std::atomic<std::int64_t>> sentAt(total);
  std::atomic<std::uint64_t> observed{0};
  std::atomic<std::int64_t> timedStart{0};
  std::atomic<bool> abort{false};
  std::mutex failureLock;
  std::exception_ptr failure;
  auto guarded = [&](auto body) {
    try {
      body();
    } catch (...) {
      std::lock_guard lock(failureLock);
      if (!failure) failure = std::current_exception();
      abort = true;
    }
  };

  std::jthread worker([&](std::stop_token stop) { guarded([&] { work(stop); }); });
  std::jthread sender([&] {
    guarded([&] {
      const std::uint64_t window = 4 * s.batch;
      std::uint64_t next = 0;
      auto send = [&](std::uint64_t from, std::uint64_t to, bool stamped) {
        if (!stamped) {
          const std::int64_t now = nowNs();
          for (std::uint64_t i = from; i < to; ++i) sentAt[i].store(now, std::memory_order_relaxed);
        }
        bus.publish(std::span(outbound.data() + from, to - from));
      };
      auto closedLoop = [&](std::uint64_t end) {
        while (next < end && !abort) {
          if (next - observed.load() >= window) {
            std::this_thread::sleep_for(std::chrono::microseconds{50});
            continue;
          }
          const std::uint64_t to = std::min<std::uint64_t>(next + s.batch, end);
          send(next, to, false);
          next = to;
        }
      };
      closedLoop(warm);
      while (observed.load() < warm && !abort) {
        std::this_thread::sleep_for(std::chrono::microseconds{100});
      }
      const std::int64_t t0 = nowNs();
      timedStart = t0;
      if (rate <= 0) {
        closedLoop(total);
        return;
      }
      const double nsPerMessage = 1e9 / rate;
      while (next < total && !abort) {
        const auto elapsed = static_cast<double>(nowNs() - t0);
        const std::uint64_t due = std::min<std::uint64_t>(
            total, warm + static_cast<std::uint64_t>(elapsed / nsPerMessage) + 1);
        if (due <= next) {
          const auto wake =
              t0 + static_cast<std::int64_t>(static_cast<double>(next - warm) * nsPerMessage);
          std::this_thread::sleep_for(std::chrono::nanoseconds(wake - nowNs()));
          continue;
        }
        const std::uint64_t to = std::min<std::uint64_t>(due, next + 4 * s.batch);
        for (std::uint64_t i = next; i < to; ++i) {
          sentAt[i].store(
              t0 + static_cast<std::int64_t>(static_cast<double>(i - warm) * nsPerMessage),
              std::memory_order_relaxed);
        }
        send(next, to, true);
        next = to;
      }
    });
  });

  BusRun result;
  result.latenciesMs.reserve(s.messages);
  guarded([&] {
    while (observed.load() < total && !abort) {
      std::vector<Delivery> outputs = bus.receive(kObserver, 4096, std::chrono::milliseconds{20});
      if (outputs.empty()) continue;
      const std::int64_t now = nowNs();
      std::vector<std::uint64_t> tags;
      for (const Delivery& d : outputs) {
        const std::uint64_t seq = countedSeq(d.envelope);
        if (seq >= warm && seq < total) {
          result.latenciesMs.push_back(
              static_cast<double>(now - sentAt[seq].load(std::memory_order_relaxed)) / 1e6);
        }
        tags.push_back(d.tag);
      }
      bus.ack(kObserver, tags);
      observed += outputs.size();
    }
  });
  const std::int64_t end = nowNs();
  abort = true;
  sender.join();
  worker.request_stop();
  worker.join();
  if (failure) std::rethrow_exception(failure);
  result.perSecond =
      static_cast<double>(s.messages) / (static_cast<double>(end - timedStart) / 1e9);
  return result;
}

}  // namespace idem::bench
