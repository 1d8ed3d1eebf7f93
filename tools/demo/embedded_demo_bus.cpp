// DemoBus over the embedded bus: EmbeddedTransport and its operator counts.
#include "idem/embedded_transport.h"
#include "tools/demo/demo_bus.h"

namespace idem::tools::demo {

namespace {

class EmbeddedDemoBus : public DemoBus {
 public:
  explicit EmbeddedDemoBus(const Workspace& workspace) : bus_(optionsFor(workspace)) {}

  void subscribe(const std::string& endpoint, std::uint64_t messageType) override {
    bus_.subscribe(endpoint, messageType);
  }
  void publish(std::span<const Outbound> messages) override { bus_.publish(messages); }
  void publishDuplicates(std::span<const Outbound> copies) override { bus_.publish(copies); }
  std::vector<DemoQueue> queues() override {
    std::vector<DemoQueue> out;
    for (const QueueStats& q : bus_.queues()) {
      out.push_back({q.endpoint, q.ready + q.inFlight + q.delayed, q.errors});
    }
    return out;
  }
  std::vector<ErrorEntry> errors(const std::string& endpoint, std::size_t limit) override {
    return bus_.errors(endpoint, limit);
  }

 private:
  static EmbeddedTransportOptions optionsFor(const Workspace& workspace) {
    EmbeddedTransportOptions o;
    o.busDirectory = workspace.bus();
    return o;
  }

  EmbeddedTransport bus_;
};

}  // namespace

std::unique_ptr<DemoBus> openEmbeddedDemoBus(const Workspace& workspace) {
  return std::make_unique<EmbeddedDemoBus>(workspace);
}

}  // namespace idem::tools::demo
