// DemoBus over NATS JetStream: NatsTransport sends, NatsAdmin counts, reads the error streams,
// resets the streams of a fresh demo and publishes the duplicates past the duplicate window.
#include <chrono>

#include "idem/nats_admin.h"
#include "idem/nats_transport.h"
#include "tools/demo/demo_bus.h"

namespace idem::tools::demo {

namespace {

class NatsDemoBus : public DemoBus {
 public:
  NatsDemoBus(const DemoOptions& options, std::vector<std::string> endpoints, bool resumed)
      : endpoints_(std::move(endpoints)),
        admin_(natsOptionsFor(options.transport)),
        runTag_(std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count())) {
    // Before the transport exists: its subscribe() creates the streams afresh.
    if (!resumed) {
      for (const std::string& e : endpoints_) admin_.deleteStreams(e);
    }
    transport_ = std::make_unique<NatsTransport>(natsOptionsFor(options.transport));
  }

  void subscribe(const std::string& endpoint, std::uint64_t messageType) override {
    transport_->subscribe(endpoint, messageType);
  }
  void publish(std::span<const Outbound> messages) override { transport_->publish(messages); }
  void publishDuplicates(std::span<const Outbound> copies) override {
    for (const Outbound& m : copies) {
      admin_.publishCopy(m, "dup-" + runTag_ + "-" + std::to_string(++copies_));
    }
  }
  std::vector<DemoQueue> queues() override {
    std::vector<DemoQueue> out;
    for (const std::string& e : endpoints_) {
      const NatsQueueStats q = admin_.queue(e);
      out.push_back({e, q.messages, q.errors});
    }
    return out;
  }
  std::vector<ErrorEntry> errors(const std::string& endpoint, std::size_t limit) override {
    return admin_.errors(endpoint, limit);
  }

 private:
  std::vector<std::string> endpoints_;
  NatsAdmin admin_;
  std::unique_ptr<NatsTransport> transport_;
  std::string runTag_;  // makes this run's copy ids differ from an earlier run's
  std::uint64_t copies_ = 0;
};

}  // namespace

std::unique_ptr<DemoBus> openNatsDemoBus(const DemoOptions& options,
                                         const std::vector<std::string>& endpoints, bool resumed) {
  return std::make_unique<NatsDemoBus>(options, endpoints, resumed);
}

}  // namespace idem::tools::demo
