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
    const std::uint32_t ticket = impl_->doorbell.ticket(endpoint);
    const std::int64_t lookedAt = nowNs();
    store::BusStore::Leased got = impl_->bus.lease(endpoint, maxCount, lookedAt);
    const auto now = std::chrono::steady_clock::now();
    if (!got.deliveries.empty() || now >= deadline) return std::move(got.deliveries);
    // Nothing rings when a delayed message or a lease falls due: wake for the earliest of them,
    // and after one lease timeout at most (another consumer may take a lease meanwhile).
    std::chrono::nanoseconds upTo =
        std::min<std::chrono::nanoseconds>(deadline - now, options_.leaseTimeout);
    if (got.nextDueNs != INT64_MAX) {
      upTo = std::min(
          upTo, std::chrono::nanoseconds(std::max<std::int64_t>(got.nextDueNs - lookedAt, 0)));
    }
    if (upTo <= std::chrono::nanoseconds::zero()) upTo = std::chrono::microseconds{100};
    impl_->doorbell.wait(endpoint, ticket, upTo);
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
  for (const std::string& endpoint : impl_->bus.publish(messages, nowNs())) {
    impl_->doorbell.ring(endpoint);
  }
}

void EmbeddedTransport::ack(std::string_view endpoint, std::span<const std::uint64_t> tags) {
  if (!tags.empty()) impl_->bus.ack(endpoint, tags);
}

std::vector<Delivery> EmbeddedTransport::settle(std::string_view endpoint,
                                                std::span<const Outbound> outputs,
                                                std::span<const std::uint64_t> acks,
                                                std::size_t maxNext) {
  for (const Outbound& m : outputs) checkOutbound(m);
  if (outputs.empty() && acks.empty() && maxNext == 0) return {};
  store::BusStore::Settled settled = impl_->bus.settle(endpoint, outputs, acks, maxNext, nowNs());
  for (const std::string& readied : settled.readied) impl_->doorbell.ring(readied);
  return std::move(settled.next.deliveries);
}

BusCommits EmbeddedTransport::commits() const noexcept { return impl_->bus.commits(); }

void EmbeddedTransport::retryLater(std::string_view endpoint, std::uint64_t tag,
                                   std::chrono::milliseconds delay) {
  const std::int64_t due =
      nowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
  // A delayed one rings too: a waiting consumer then re-reads when the earliest delay ends.
  if (impl_->bus.retryLater(endpoint, tag, due)) impl_->doorbell.ring(endpoint);
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
  if (moved > 0) impl_->doorbell.ring(endpoint);
  return moved;
}

std::size_t EmbeddedTransport::purgeErrors(std::string_view endpoint,
                                           std::optional<std::uint64_t> id) {
  return impl_->bus.purgeErrors(endpoint, id);
}

}  // namespace idem
