// NatsTransport: the distributed transport, on NATS JetStream. One input stream and one error
// stream per endpoint, a durable pull consumer per endpoint partition, subscriptions and
// partition counts in KV buckets. Layout, headers, delays and partitioning:
// framework/nats_layout.h and docs/nats.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "idem/partitioning.h"
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

  // --- partitioning (docs/nats.md, "Partitioning") --------------------------------------------
  // The partition counts this process declares, per endpoint (typically those it serves). The
  // constructor records each in the KV bucket idem_partitions unless one is recorded already,
  // and refuses (kPermanent) a count that differs from the recorded one. An endpoint nobody
  // declared gets 1, recorded by the first process that sends to it or receives from it.
  std::map<std::string, std::uint32_t, std::less<>> partitionCounts;
  // Derives the entity key a receiving endpoint will use, with that endpoint's own key function
  // (keyResolverFor() over the handler sets of every endpoint the process may send to). Used
  // only for endpoints with more than one partition; when it does not know the endpoint's
  // handler, the envelope's entityKey hint routes the message.
  EntityKeyResolver keyResolver;
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
  // Fetches from the durable consumer of the endpoint's partition 0 (other partitions:
  // receivePartition() or NatsPartition). A message not yet due (Idem-Deliver-At) is handed back
  // with a delay and not returned; one delivered more than maxDeliveries times goes to the error
  // stream.
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override;
  // receive() from partition `partition` of the endpoint. Throws idem::Error kPermanent when the
  // endpoint has no such partition. A delivery whose entity (derived with keyResolver) belongs
  // to another partition, because its sender routed it by a wrong entityKey hint, is forwarded
  // there and not returned.
  std::vector<Delivery> receivePartition(std::string_view endpoint, std::uint32_t partition,
                                         std::size_t maxCount, std::chrono::milliseconds maxWait);
  // Publishes one copy per target (the destination, or every subscriber of the type) to the
  // target's partition of the message's entity, with Nats-Msg-Id = the message id,
  // asynchronously, then waits for every PubAck. Throws Error kTransient when one fails or does
  // not arrive within publishTimeout; kPermanent for an invalid destination name, or a message
  // for a partitioned endpoint whose entity key neither keyResolver nor the envelope's
  // entityKey hint gives (nothing of the batch is published then).
  // A destination must be a valid NATS endpoint name (docs/nats.md).
  void checkOutbound(const Outbound& message) const override;
  void publish(std::span<const Outbound> messages) override;
  // Acks without waiting: the acks go out with the connection's next write (or its flusher's,
  // or the destructor's flush), so the server applies them shortly after this returns. An ack
  // lost to a crash is a redelivery, which the endpoint's store deduplicates. Unknown or
  // already settled tags are ignored.
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override;
  // A negative acknowledgement with `delay` (NakWithDelay).
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds delay) override;
  // Publishes the original bytes with the report in headers to the endpoint's error stream
  // (deduplicated per original delivery), then acks the delivery.
  void deadLetter(std::string_view endpoint, std::uint64_t tag, const ErrorReport& report) override;

  // The partition count of `endpoint`, as recorded on the server (records 1 when none is).
  std::uint32_t partitionCount(std::string_view endpoint);

  // --- operating (tools and tests) -----------------------------------------------------------
  // Messages in `endpoint`'s input stream: ready, leased and delayed (0 when it has none).
  // Flushes this process's acks first.
  std::uint64_t pending(std::string_view endpoint) const;
  // The error stream of `endpoint`, oldest first, at most `limit` entries; id = stream sequence.
  std::vector<ErrorEntry> errors(std::string_view endpoint, std::size_t limit = SIZE_MAX) const;

 private:
  struct Impl;
  NatsTransportOptions options_;
  std::unique_ptr<Impl> impl_;
};

// The transport as the Endpoint serving one partition of its endpoint sees it: receive() is
// receivePartition(endpoint, partition, ...); everything else is the NatsTransport's (tags are
// shared). `nats` must outlive it. Thread safety: as NatsTransport.
class NatsPartition : public Transport {
 public:
  NatsPartition(NatsTransport& nats, std::uint32_t partition)
      : nats_(nats), partition_(partition) {}

  std::uint32_t partition() const noexcept { return partition_; }

  void subscribe(std::string_view endpoint, std::uint64_t messageType) override {
    nats_.subscribe(endpoint, messageType);
  }
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override {
    return nats_.receivePartition(endpoint, partition_, maxCount, maxWait);
  }
  void checkOutbound(const Outbound& message) const override { nats_.checkOutbound(message); }
  void publish(std::span<const Outbound> messages) override { nats_.publish(messages); }
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override {
    nats_.ack(endpoint, tags);
  }
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds delay) override {
    nats_.retryLater(endpoint, tag, delay);
  }
  void deadLetter(std::string_view endpoint, std::uint64_t tag,
                  const ErrorReport& report) override {
    nats_.deadLetter(endpoint, tag, report);
  }

 private:
  NatsTransport& nats_;
  std::uint32_t partition_;
};

// Options for `url` with everything else at its default. A "nats://" or "tls://" URL; throws
// idem::Error (permanent) for anything else.
NatsTransportOptions natsOptionsFor(std::string_view url);

}  // namespace idem
