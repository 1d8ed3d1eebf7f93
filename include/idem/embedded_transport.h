// EmbeddedTransport: the default transport. Durable queues in their own LMDB environment (the
// "bus" directory), shared by any number of endpoint processes on one machine; nothing to start.
// What the bus guarantees, and its on-disk layout, are in docs/storage-format.md ("Bus").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "idem/transport.h"

namespace idem {

struct EmbeddedTransportOptions {
  std::filesystem::path busDirectory;  // created when absent; never an endpoint's store directory
  // How long a received delivery stays invisible to other consumers. A consumer that neither
  // acks, retries nor dead-letters within it (crashed, hung) loses it: it is delivered again,
  // attempt + 1.
  std::chrono::milliseconds leaseTimeout{30'000};
  // Per endpoint, ready + leased + delayed messages above which publish() refuses the whole
  // batch with Error kOverloaded (back-pressure on senders). Outputs of committed versions
  // (Outbound::committed) are never refused for depth: see Transport::publish.
  std::uint64_t maxDepth = 1'000'000;
  // The largest envelope the bus takes (checkOutbound; publish() refuses larger ones too).
  std::size_t maxMessageBytes = std::size_t{16} << 20;
  bool durable = true;  // false: commits are not fsynced (benchmarks and tests only)
  std::size_t initialMapBytes = std::size_t{64} << 20;  // the file is sparse; grows on demand
  std::size_t maxMapBytes = std::size_t{1} << 40;
};

// The queues of one endpoint, as counted by the bus.
struct QueueStats {
  std::string endpoint;
  std::uint64_t ready = 0;     // receivable now
  std::uint64_t inFlight = 0;  // leased to a consumer, not yet settled (expired leases included)
  std::uint64_t delayed = 0;   // waiting for their delivery time (retries, timeouts)
  std::uint64_t errors = 0;    // in the error queue
};

// What one process's commits on a bus cost so far (tests, benchmarks): write transactions that
// changed something, the flushes they waited for, and the pages they wrote (see LmdbCounters in
// store/lmdb_env.h for how each is measured).
struct BusCommits {
  std::uint64_t commits = 0;
  std::uint64_t syncs = 0;
  std::uint64_t pagesWritten = 0;
};

// Thread safety: every member may be called from any thread; the bus serialises writers (across
// processes too). Open at most one EmbeddedTransport per process per bus directory.
// Settling a stale delivery (ack, retryLater or deadLetter of a tag whose lease expired and was
// given to another consumer, or that was settled already) is a no-op: the current holder of the
// message settles it. An expired lease that nobody took over yet can still be settled.
class EmbeddedTransport : public Transport {
 public:
  // Opens (creating when absent) the bus in options.busDirectory. Throws idem::Error (permanent),
  // naming the file, when the directory holds a damaged, truncated or foreign LMDB file.
  explicit EmbeddedTransport(EmbeddedTransportOptions options);
  ~EmbeddedTransport() override;
  EmbeddedTransport(const EmbeddedTransport&) = delete;
  EmbeddedTransport& operator=(const EmbeddedTransport&) = delete;

  const EmbeddedTransportOptions& options() const noexcept { return options_; }

  void subscribe(std::string_view endpoint, std::uint64_t messageType) override;
  // Looks in a read transaction first; only when something is ready or due, one write
  // transaction makes due delayed messages ready, takes expired leases back (attempt + 1) and
  // leases up to `maxCount`. When none is ready, sleeps until a publisher rings this endpoint's
  // doorbell (a futex in the bus directory; publishes to other endpoints do not wake it), or
  // until the earliest delayed message or lease of the endpoint falls due, or one lease timeout
  // passed (a lease taken meanwhile by another consumer may expire), whichever comes first.
  std::vector<Delivery> receive(std::string_view endpoint, std::size_t maxCount,
                                std::chrono::milliseconds maxWait) override;
  // The whole batch in one durable transaction, or nothing of it. An empty destination goes to
  // every endpoint subscribed to the type (none: the message is dropped); a named destination
  // receives it even if nobody serves it yet. Throws Error kOverloaded, writing nothing, when an
  // endpoint's depth would exceed maxDepth; kPermanent for an invalid destination name.
  // A destination must be a valid bus endpoint name (1..200 bytes, no NUL); the envelope at most
  // maxMessageBytes.
  void checkOutbound(const Outbound& message) const override;
  void publish(std::span<const Outbound> messages) override;
  void ack(std::string_view endpoint, std::span<const std::uint64_t> tags) override;
  // Outputs stored, acked inputs deleted and up to `maxNext` further deliveries leased, in ONE
  // durable write transaction: one bus commit per batch of an endpoint.
  std::vector<Delivery> settle(std::string_view endpoint, std::span<const Outbound> outputs,
                               std::span<const std::uint64_t> acks, std::size_t maxNext) override;
  bool settlesAtomically() const noexcept override { return true; }
  void retryLater(std::string_view endpoint, std::uint64_t tag,
                  std::chrono::milliseconds delay) override;
  void deadLetter(std::string_view endpoint, std::uint64_t tag, const ErrorReport& report) override;

  // --- operating the bus (the `idem` tool) ---------------------------------------------------
  // Every endpoint the bus knows (subscribed, or ever sent to), in name order.
  std::vector<QueueStats> queues() const;
  QueueStats queue(std::string_view endpoint) const;
  // The error queue of `endpoint`, oldest first, at most `limit` entries.
  std::vector<ErrorEntry> errors(std::string_view endpoint, std::size_t limit = SIZE_MAX) const;
  // Moves one error (or, with nullopt, all of `endpoint`'s) back to the ready queue with the
  // attempt count reset to 1. Returns how many moved.
  std::size_t retryErrors(std::string_view endpoint, std::optional<std::uint64_t> id = {});
  // Deletes one error (or all of `endpoint`'s) for good. Returns how many were deleted.
  std::size_t purgeErrors(std::string_view endpoint, std::optional<std::uint64_t> id = {});
  // What this object's commits on the bus cost so far.
  BusCommits commits() const noexcept;

 private:
  struct Impl;
  EmbeddedTransportOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem
