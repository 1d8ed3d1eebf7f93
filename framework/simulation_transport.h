// SimulationTransport: a deterministic, seeded, in-process transport for tests. It injects
// duplicates, reordering and a crash part-way through publishing, keeps every copy ever
// published for the byte-level oracles, and runs on virtual time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "idem/transport.h"

namespace idem {

// Thrown by a simulated crash. Deliberately not a std::exception, so that no handler-failure
// path catches it: it unwinds to the test like a process dying.
struct SimulatedCrash {
  const char* where;
};

struct SimulationFaults {
  unsigned duplicatePercent = 0;  // chance that a received message stays queued as well
  bool reorder = false;           // receive in a random order instead of queue order
};

class SimulationTransport : public Transport {
 public:
  explicit SimulationTransport(std::uint64_t seed, SimulationFaults faults = {});

  // A message entering at the edge, for `destination`.
  void inject(const std::string& destination, Bytes envelope);

  // The consumer of `endpoint` died: its leased deliveries become receivable again.
  void expireLeases(const std::string& endpoint);
  // The next publish() hands over `count` messages, then throws SimulatedCrash.
  void crashPublishAfter(std::size_t count) { crashAfter_ = count; }
  // Moves virtual time forward; delayed messages whose time has come become receivable.
  void advance(std::chrono::milliseconds by);
  TimePoint now() const { return now_; }

  // Every copy ever published, in order (re-emissions included).
  const std::vector<Outbound>& published() const { return published_; }
  struct DeadLetter {
    Bytes envelope;
    ErrorReport report;
  };
  const std::vector<DeadLetter>& deadLetters(const std::string& endpoint) const;
  // Every delivery acked: the endpoint and the envelope bytes, in order.
  const std::vector<std::pair<std::string, Bytes>>& acked() const { return acked_; }
  // Queued, leased and delayed messages for `endpoint`.
  std::size_t pending(const std::string& endpoint) const;

  void subscribe(std::string_view endpoint, std::uint64_t messageType) override;
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override;
  // Refuses (permanent) what `outboundRule` names; by default a destination that is not a
  // valid bus endpoint name (1..200 bytes, no NUL), as the embedded bus does.
  void checkOutbound(const Outbound& message) const override;
  // Refuses the whole call (permanent) when checkOutbound() or `publishRule` refuses a message.
  void publish(std::span<const Outbound> messages) override;
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override;

  // A reason to refuse a message, or nullopt to accept it.
  using OutboundRule = std::function<std::optional<std::string>(const Outbound&)>;
  // Replaces the rule checkOutbound() applies (empty: the default rule).
  OutboundRule outboundRule;
  // Refused by publish() only, not by checkOutbound(): a transport whose limits changed after
  // a version was committed (e.g. a stream deleted, a smaller max payload).
  OutboundRule publishRule;
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds delay) override;
  void deadLetter(std::string_view endpoint, std::uint64_t tag, const ErrorReport& report) override;

 private:
  struct Message {
    Bytes envelope;
    std::uint32_t attempt = 1;
  };
  struct Leased {
    std::string endpoint;
    Message message;
  };
  struct Delayed {
    std::string endpoint;
    Message message;
  };

  void route(const Outbound& message);
  Leased takeLease(std::string_view endpoint, std::uint64_t tag);

  std::mt19937_64 random_;
  SimulationFaults faults_;
  TimePoint now_;
  std::optional<std::size_t> crashAfter_;
  std::uint64_t nextTag_ = 1;
  std::map<std::string, std::deque<Message>, std::less<>> queues_;
  std::map<std::uint64_t, Leased> leased_;
  std::multimap<TimePoint, Delayed> delayed_;
  std::map<std::uint64_t, std::set<std::string>> subscribers_;
  std::map<std::string, std::vector<DeadLetter>, std::less<>> deadLetters_;
  std::vector<Outbound> published_;
  std::vector<std::pair<std::string, Bytes>> acked_;
};

}  // namespace idem
