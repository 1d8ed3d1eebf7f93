// EmbeddedTransport: the Transport interface over BusStore, with the doorbell for waiting.
#include "idem/embedded_transport.h"

#include <algorithm>
#include <thread>

#include "framework/bus_doorbell.h"
#include "idem/error.h"
#include "store/bus_layout.h"
#include "store/bus_store.h"

namespace idem {

namespace {

// Delayed messages and expired leases ring no bell: a waiting consumer looks at least this often.
constexpr std::chrono::milliseconds kWaitSlice{20};

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

store::BusOptions busOptions(const EmbeddedTransportOptions& o) {
  if (o.busDirectory.empty()) {
    fail(ErrorKind::kBug, "EmbeddedTransportOptions::busDirectory is empty");
  }
  if (o.leaseTimeout <= std::chrono::milliseconds::zero()) {
    fail(ErrorKind::kBug, "EmbeddedTransportOptions::leaseTimeout must be positive");
  }
  store::BusOptions b;
  b.initialMapBytes = o.initialMapBytes;
  b.maxMapBytes = o.maxMapBytes;
  b.durable = o.durable;
  b.leaseNs = std::chrono::duration_cast<std::chrono::nanoseconds>(o.leaseTimeout).count();
  b.maxDepth = o.maxDepth;
  return b;
}

}  // namespace

struct EmbeddedTransport::Impl {
  explicit Impl(const EmbeddedTransportOptions& o)
      : bus(o.busDirectory, busOptions(o)), doorbell(o.busDirectory / "doorbell") {}

  store::BusStore bus;
  detail::BusDoorbell doorbell;
};

EmbeddedTransport::EmbeddedTransport(EmbeddedTransportOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}

EmbeddedTransport::~EmbeddedTransport() = default;

void EmbeddedTransport::subscribe(std::string_view endpoint, std::uint64_t messageType) {
  impl_->bus.subscribe(endpoint, messageType);
}

std::vector<Delivery> EmbeddedTransport::receive(std::string_view endpoint, std::size_t maxCount,
                                                 std::chrono::milliseconds maxWait) {
  if (maxCount == 0) return {};
  const auto deadline = std::chrono::steady_clock::now() + maxWait;
  for (;;) {
    // The ticket is taken before looking, so a publish after the look cuts the wait short.
    const std::uint32_t ticket = impl_->doorbell.ticket();
    std::vector<Delivery> got = impl_->bus.lease(endpoint, maxCount, nowNs());
    const auto now = std::chrono::steady_clock::now();
    if (!got.empty() || now >= deadline) return got;
    impl_->doorbell.wait(ticket, std::min<std::chrono::nanoseconds>(deadline - now, kWaitSlice));
  }
}

void EmbeddedTransport::checkOutbound(const Outbound& message) const {
  if (!message.destination.empty()) store::bus::checkEndpoint(message.destination);
  if (message.envelope.size() > options_.maxMessageBytes) {
    fail(ErrorKind::kPermanent, "message of " + std::to_string(message.envelope.size()) +
                                    " bytes exceeds the bus's limit of " +
                                    std::to_string(options_.maxMessageBytes) + " bytes");
  }
}

void EmbeddedTransport::publish(std::span<const Outbound> messages) {
  for (const Outbound& m : messages) checkOutbound(m);
  if (messages.empty()) return;
  impl_->bus.publish(messages, nowNs());
  impl_->doorbell.ring();
}

void EmbeddedTransport::ack(std::string_view endpoint, std::span<const std::uint64_t> tags) {
  if (!tags.empty()) impl_->bus.ack(endpoint, tags);
}

void EmbeddedTransport::retryLater(std::string_view endpoint, std::uint64_t tag,
                                   std::chrono::milliseconds delay) {
  const std::int64_t due =
      nowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
  if (impl_->bus.retryLater(endpoint, tag, due) && delay <= std::chrono::milliseconds::zero()) {
    impl_->doorbell.ring();
  }
}

void EmbeddedTransport::deadLetter(std::string_view endpoint, std::uint64_t tag,
                                   const ErrorReport& report) {
  impl_->bus.deadLetter(endpoint, tag, report);
}

std::vector<QueueStats> EmbeddedTransport::queues() const { return impl_->bus.allStats(); }

QueueStats EmbeddedTransport::queue(std::string_view endpoint) const {
  return impl_->bus.stats(endpoint);
}

std::vector<ErrorEntry> EmbeddedTransport::errors(std::string_view endpoint,
                                                  std::size_t limit) const {
  return impl_->bus.errors(endpoint, limit);
}

std::size_t EmbeddedTransport::retryErrors(std::string_view endpoint,
                                           std::optional<std::uint64_t> id) {
  const std::size_t moved = impl_->bus.retryErrors(endpoint, id);
  if (moved > 0) impl_->doorbell.ring();
  return moved;
}

std::size_t EmbeddedTransport::purgeErrors(std::string_view endpoint,
                                           std::optional<std::uint64_t> id) {
  return impl_->bus.purgeErrors(endpoint, id);
}

}  // namespace idem
