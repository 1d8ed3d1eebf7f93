// BusRig: sender thread, worker thread (endpoint or relay) and observer over one embedded bus.
#include "bench/bus_rig.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "bench/bench_endpoint.h"
#include "bench/harness.h"
#include "bench/store_meter.h"
#include "idem/embedded_transport.h"
#include "idem/endpoint.h"

namespace idem::bench {

namespace {

constexpr const char* kObserver = "observer";

// The worker's view of the bus: forwards every call and counts those that commit.
class CountingTransport : public Transport {
 public:
  explicit CountingTransport(Transport& bus) : bus_(bus) {}
  std::uint64_t commits() const { return commits_.load(); }

  void subscribe(std::string_view endpoint, std::uint64_t type) override {
    bus_.subscribe(endpoint, type);
  }
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override {
    std::vector<Delivery> got = bus_.receive(endpoint, maxCount, maxWait);
    if (!got.empty()) ++commits_;  // an empty look writes nothing
    return got;
  }
  void checkOutbound(const Outbound& message) const override { bus_.checkOutbound(message); }
  void publish(std::span<const Outbound> messages) override {
    bus_.publish(messages);
    if (!messages.empty()) ++commits_;
  }
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override {
    bus_.ack(endpoint, tags);
    if (!tags.empty()) ++commits_;
  }
  std::vector<Delivery> settle(std::string_view endpoint, std::span<const Outbound> outputs,
                               std::span<const std::uint64_t> acks, std::size_t maxNext) override {
    std::vector<Delivery> next = bus_.settle(endpoint, outputs, acks, maxNext);
    if (bus_.settlesAtomically()) {
      ++commits_;
    } else {
      commits_ += (outputs.empty() ? 0 : 1) + (acks.empty() ? 0 : 1);
    }
    return next;
  }
  bool settlesAtomically() const noexcept override { return bus_.settlesAtomically(); }
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds delay) override {
    bus_.retryLater(endpoint, tag, delay);
    ++commits_;
  }
  void deadLetter(std::string_view endpoint, std::uint64_t tag,
                  const ErrorReport& report) override {
    bus_.deadLetter(endpoint, tag, report);
    ++commits_;
  }

 private:
  Transport& bus_;
  std::atomic<std::uint64_t> commits_{0};
};

// The at-least-once consumer a user runs today: receive, do the work, publish, ack; here the
// publish, the ack and the next receive are one settle call, the best the bus offers.
void relay(Transport& bus, std::size_t batch, const std::stop_token& stop) {
  std::vector<Delivery> deliveries;
  while (!stop.stop_requested()) {
    if (deliveries.empty()) {
      deliveries = bus.receive(kEndpointName, batch, std::chrono::milliseconds{5});
    }
    if (deliveries.empty()) continue;
    std::vector<Outbound> outputs;
    std::vector<std::uint64_t> tags;
    for (const Delivery& d : deliveries) {
      outputs.push_back(countedOutbound(incrementFacts(d.envelope)));
      tags.push_back(d.tag);
    }
    deliveries = bus.settle(kEndpointName, outputs, tags, stop.stop_requested() ? 0 : batch);
  }
}

}  // namespace

BusRun runOverBus(const Settings& s, BusWorker kind, double rate) {
  ScratchDir dir(kind == BusWorker::kEndpoint ? "bus-idem" : "bus-relay");
  EmbeddedTransportOptions busOptions;
  busOptions.busDirectory = dir.path() / "bus";
  busOptions.durable = s.durable;
  EmbeddedTransport bus(busOptions);
  CountingTransport counted(bus);
  std::optional<Endpoint> endpoint;
  std::optional<StoreMeter> storeMeter;
  if (kind == BusWorker::kEndpoint) {
    EndpointOptions options;
    options.storeDirectory = dir.path() / "store";
    options.batchSize = s.batch;
    options.durable = s.durable;
    endpoint.emplace(counterHandlers(), counted, options);
    storeMeter.emplace(options.storeDirectory, idemEnvFlags(s.durable));
  }
  BusRun run = runRig(
      s, bus,
      [&](std::stop_token stop) {
        if (endpoint) {
          endpoint->run(stop);
        } else {
          relay(counted, s.batch, stop);
        }
      },
      rate);
  const std::uint64_t total = s.entities + s.messages;
  const std::uint64_t storeCommits = storeMeter ? storeMeter->finish(total, 1).commits : 0;
  run.commitsPerMessage =
      static_cast<double>(counted.commits() + storeCommits) / static_cast<double>(total);
  return run;
}

double fsyncP99Ms(const std::filesystem::path& dir, unsigned samples) {
  const std::filesystem::path file = dir / "fsync-probe";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("fsyncP99Ms: cannot create " + file.string());
  std::vector<char> page(4096, 'x');
  std::vector<double> ms;
  for (unsigned i = 0; i < samples; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (::pwrite(fd, page.data(), page.size(), 0) != static_cast<ssize_t>(page.size()) ||
        ::fdatasync(fd) != 0) {
      ::close(fd);
      throw std::runtime_error("fsyncP99Ms: cannot write " + file.string());
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  ::close(fd);
  return percentile(ms, 99);
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
          // Sleep a tick at least, so that what falls due meanwhile goes in one publish: one
          // commit per message would saturate the sender before the worker.
          const auto wake = std::max<std::int64_t>(
              t0 + static_cast<std::int64_t>(static_cast<double>(next - warm) * nsPerMessage),
              nowNs() + std::chrono::nanoseconds(kSenderTick).count());
          std::this_thread::sleep_for(std::chrono::nanoseconds(wake - nowNs()));
          continue;
        }
        const std::uint64_t to = due;
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
    std::vector<Delivery> outputs;
    while (observed.load() < total && !abort) {
      if (outputs.empty()) outputs = bus.receive(kObserver, 4096, std::chrono::milliseconds{20});
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
      const std::size_t n = outputs.size();
      // Acks these and leases what came meanwhile in one call (none once all are in).
      outputs = bus.settle(kObserver, {}, tags, observed.load() + n < total ? 4096 : 0);
      observed += n;
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
