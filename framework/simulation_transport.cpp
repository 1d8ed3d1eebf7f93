// SimulationTransport: in-memory queues with seeded fault injection.
#include "framework/simulation_transport.h"

#include "idem/error.h"

namespace idem {

SimulationTransport::SimulationTransport(std::uint64_t seed, SimulationFaults faults)
    : random_(seed),
      faults_(faults),
      now_(TimePoint(std::chrono::hours(24 * 365 * 56))) {}  // a fixed start: 2026

void SimulationTransport::inject(const std::string& destination, Bytes envelope) {
  queues_[destination].push_back({std::move(envelope), 1});
}

void SimulationTransport::expireLeases(const std::string& endpoint) {
  for (auto it = leased_.begin(); it != leased_.end();) {
    if (it->second.endpoint == endpoint) {
      Message m = std::move(it->second.message);
      ++m.attempt;
      queues_[endpoint].push_back(std::move(m));
      it = leased_.erase(it);
    } else {
      ++it;
    }
  }
}

void SimulationTransport::advance(std::chrono::milliseconds by) {
  now_ += by;
  while (!delayed_.empty() && delayed_.begin()->first <= now_) {
    Delayed d = std::move(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    queues_[d.endpoint].push_back(std::move(d.message));
  }
}

const std::vector<SimulationTransport::DeadLetter>& SimulationTransport::deadLetters(
    const std::string& endpoint) const {
  static const std::vector<DeadLetter> kNone;
  auto it = deadLetters_.find(endpoint);
  return it == deadLetters_.end() ? kNone : it->second;
}

std::size_t SimulationTransport::pending(const std::string& endpoint) const {
  std::size_t n = 0;
  if (auto it = queues_.find(endpoint); it != queues_.end()) n += it->second.size();
  for (const auto& [tag, l] : leased_) n += l.endpoint == endpoint;
  for (const auto& [at, d] : delayed_) n += d.endpoint == endpoint;
  return n;
}

void SimulationTransport::subscribe(std::string_view endpoint, std::uint64_t messageType) {
  subscribers_[messageType].insert(std::string(endpoint));
}

std::vector<Delivery> SimulationTransport::receive(std::string_view endpoint, std::size_t maxCount,
                                                   std::chrono::milliseconds) {
  std::vector<Delivery> out;
  auto it = queues_.find(endpoint);
  if (it == queues_.end()) return out;
  std::deque<Message>& queue = it->second;
  while (!queue.empty() && out.size() < maxCount) {
    std::size_t index = 0;
    if (faults_.reorder) index = random_() % queue.size();
    Message m = queue[index];
    const bool duplicate =
        faults_.duplicatePercent > 0 && random_() % 100 < faults_.duplicatePercent;
    if (!duplicate) queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(index));
    const std::uint64_t tag = nextTag_++;
    out.push_back({m.envelope, tag, m.attempt});
    leased_[tag] = {std::string(endpoint), std::move(m)};
  }
  return out;
}

void SimulationTransport::route(const Outbound& message) {
  Message m{message.envelope, 1};
  auto deliver = [&](const std::string& endpoint) {
    if (message.deliverAt > now_) {
      delayed_.emplace(message.deliverAt, Delayed{endpoint, m});
    } else {
      queues_[endpoint].push_back(m);
    }
  };
  if (!message.destination.empty()) {
    deliver(message.destination);
    return;
  }
  if (auto it = subscribers_.find(message.messageType); it != subscribers_.end()) {
    for (const std::string& endpoint : it->second) deliver(endpoint);
  }
}

void SimulationTransport::checkOutbound(const Outbound& message) const {
  std::optional<std::string> refused;
  if (outboundRule) {
    refused = outboundRule(message);
  } else if (!message.destination.empty() &&
             (message.destination.size() > 200 ||
              message.destination.find('\0') != std::string::npos)) {
    refused = "invalid endpoint name '" + message.destination + "'";
  }
  if (refused) fail(ErrorKind::kPermanent, *refused);
}

void SimulationTransport::publish(std::span<const Outbound> messages) {
  for (const Outbound& m : messages) {
    checkOutbound(m);
    if (publishRule) {
      if (auto refused = publishRule(m)) fail(ErrorKind::kPermanent, *refused);
    }
  }
  std::size_t handed = 0;
  for (const Outbound& m : messages) {
    if (crashAfter_ && handed == *crashAfter_) {
      crashAfter_.reset();
      throw SimulatedCrash{"publish"};
    }
    published_.push_back(m);
    route(m);
    ++handed;
  }
  if (crashAfter_ && handed == *crashAfter_) {
    crashAfter_.reset();
    throw SimulatedCrash{"publish"};
  }
}

SimulationTransport::Leased SimulationTransport::takeLease(std::string_view endpoint,
                                                           std::uint64_t tag) {
  auto it = leased_.find(tag);
  if (it == leased_.end() || it->second.endpoint != endpoint) {
    fail(ErrorKind::kTransient, "delivery " + std::to_string(tag) + " of " + std::string(endpoint) +
                                    " is not leased (lease expired?)");
  }
  Leased l = std::move(it->second);
  leased_.erase(it);
  return l;
}

void SimulationTransport::ack(std::string_view endpoint, std::span<const std::uint64_t> tags) {
  for (std::uint64_t tag : tags) {
    acked_.emplace_back(std::string(endpoint),
                        std::move(takeLease(endpoint, tag).message.envelope));
  }
}

void SimulationTransport::retryLater(std::string_view endpoint, std::uint64_t tag,
                                     std::chrono::milliseconds delay) {
  Leased l = takeLease(endpoint, tag);
  ++l.message.attempt;
  delayed_.emplace(now_ + delay, Delayed{l.endpoint, std::move(l.message)});
}

void SimulationTransport::deadLetter(std::string_view endpoint, std::uint64_t tag,
                                     const ErrorReport& report) {
  Leased l = takeLease(endpoint, tag);
  deadLetters_[l.endpoint].push_back({std::move(l.message.envelope), report});
}

}  // namespace idem
