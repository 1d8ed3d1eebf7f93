// NatsTransport: the distributed transport, on NATS JetStream. One input stream and one error
// stream per endpoint, a durable pull consumer per endpoint partition, subscriptions in a KV
// bucket. Layout, headers and delays: framework/nats_layout.h and docs/nats.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "idem/transport.h"

namespace idem {

struct NatsTransportOptions {
  // One server or a comma-separated list of the cluster's servers ("nats://host:4222,...").
  std::string url = "nats://127.0.0.1:4222";
  std::string credentialsFile;  // a NATS .creds file (user JWT + NKey seed); empty: none
  std::string user;             // user and password; empty: none (or those in the URL)
  std::string password;
  // Non-empty: TLS is required and the server's certificate is verified against this CA file.
  std::string tlsCaFile;
  std::string tlsCertFile;  // client certificate and key, when the server asks for one
  std::string tlsKeyFile;
  // Replicas of every stream idem creates (1 on a single server; 3 on a cluster for durability:
  // see docs/nats.md). Applies to streams created by this process; existing ones are kept.
  int replicas = 1;
  // The lease (the consumer's AckWait): a delivery neither acked, retried nor dead-lettered
  // within it is delivered again, attempt + 1.
  std::chrono::milliseconds ackWait{30'000};
  // A delivery received more often than this without being settled (its consumers crashed or
  // hung on it) goes to the error stream instead of the endpoint.
  std::uint32_t maxDeliveries = 20;
  // The streams' duplicate window: a re-emitted copy (same message id) published within it is
  // dropped by the server; later copies reach the endpoint, whose applied index drops them.
  std::chrono::milliseconds duplicateWindow{120'000};
  // How long publish() waits for every PubAck before failing (transient).
  std::chrono::milliseconds publishTimeout{5'000};
  std::chrono::milliseconds connectTimeout{2'000};
  // Between reconnect attempts after the connection is lost (attempts never stop).
  std::chrono::milliseconds reconnectWait{250};
  std::int64_t maxAckPending = 20'000;  // leased, unsettled deliveries per consumer
};

// Thread safety: every member may be called from any thread. Receiving from one endpoint on
// several threads of one process is serialised; several processes may receive from one endpoint
// (competing consumers on its durable consumer).
// Settling a delivery whose lease expired is harmless: the message was or will be delivered
// again, and the endpoint's applied index recognises the copy.
class NatsTransport : public Transport {
 public:
  // Connects and loads the subscriptions. Throws idem::Error kTransient, naming the URL, when no
  // server answers within connectTimeout (callers retry with back-off: serve() does);
  // kPermanent for invalid options, unreadable credentials or TLS files, or refused
  // authentication. Once connected, a lost connection is re-established in the background:
  // calls made meanwhile fail with kTransient.
  explicit NatsTransport(NatsTransportOptions options);
  ~NatsTransport() override;
  NatsTransport(const NatsTransport&) = delete;
  NatsTransport& operator=(const NatsTransport&) = delete;

  const NatsTransportOptions& options() const noexcept { return options_; }

  // Records (endpoint, type) in the subscription bucket and creates the endpoint's streams.
  // Other processes see it within milliseconds (they watch the bucket); make subscriptions a
  // deployment step, before anything is published (docs/nats.md).
  void subscribe(std::string_view endpoint, std::uint64_t messageType) override;
  // Fetches from the endpoint's durable consumer. A message not yet due (Idem-Deliver-At) is
  // handed back with a delay and not returned; one delivered more than maxDeliveries times goes
  // to the error stream.
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override;
  // Publishes one copy per target (the destination, or every subscriber of the type) with
  // Nats-Msg-Id = the message id, asynchronously, then waits for every PubAck. Throws Error
  // kTransient when one fails or does not arrive within publishTimeout; kPermanent for an
  // invalid destination name.
  void publish(std::span<const Outbound> messages) override;
  // Acks and flushes the connection. Unknown or already settled tags are ignored.
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override;
  // A negative acknowledgement with `delay` (NakWithDelay).
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds delay) override;
  // Publishes the original bytes with the report in headers to the endpoint's error stream
  // (deduplicated per original delivery), then acks the delivery.
  void deadLetter(std::string_view endpoint, std::uint64_t tag, const ErrorReport& report) override;

  // --- operating (tools and tests) -----------------------------------------------------------
  // Messages in `endpoint`'s input stream: ready, leased and delayed (0 when it has none).
  std::uint64_t pending(std::string_view endpoint) const;
  // The error stream of `endpoint`, oldest first, at most `limit` entries; id = stream sequence.
  std::vector<ErrorEntry> errors(std::string_view endpoint, std::size_t limit = SIZE_MAX) const;

 private:
  struct Impl;
  NatsTransportOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Options for `url` with everything else at its default. A "nats://" or "tls://" URL; throws
// idem::Error (permanent) for anything else.
NatsTransportOptions natsOptionsFor(std::string_view url);

}  // namespace idem
