// NatsAdmin: the operator's side of the NATS transport (the layout of framework/nats_layout.h):
// what waits in every endpoint's input stream, its error stream (list, retry, purge), copies
// published past the server's duplicate window, and removing an endpoint's streams. It holds a
// connection of its own and takes no part in any endpoint's pipeline. Behind `idem queues` and
// `idem errors` with --transport nats://..., and the NATS demo.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "idem/nats_transport.h"

namespace idem {

// One endpoint's input stream as the server counts it.
struct NatsQueueStats {
  std::string endpoint;
  std::uint64_t messages = 0;     // in the input stream: neither acked nor dead-lettered
  std::uint64_t ready = 0;        // never delivered yet (the consumers' pending counts)
  std::uint64_t inFlight = 0;     // delivered and not settled: leased, or handed back with a delay
  std::uint64_t redelivered = 0;  // of those, delivered more than once
  std::uint64_t consumers = 0;    // durable consumers on the stream (one per partition)
  std::uint64_t errors = 0;       // in the error stream
};

// Thread safety: one thread at a time.
class NatsAdmin {
 public:
  // Connects. Throws idem::Error as NatsTransport's constructor does (kTransient: no server).
  explicit NatsAdmin(const NatsTransportOptions& options);
  ~NatsAdmin();
  NatsAdmin(const NatsAdmin&) = delete;
  NatsAdmin& operator=(const NatsAdmin&) = delete;

  // Every endpoint with an input stream on the server, by name. Throws idem::Error.
  std::vector<NatsQueueStats> queues() const;
  // `endpoint`'s counts (all zero when it has no streams yet).
  NatsQueueStats queue(std::string_view endpoint) const;

  // The error stream of `endpoint`, oldest first, at most `limit` entries; id = stream sequence.
  std::vector<ErrorEntry> errors(std::string_view endpoint, std::size_t limit = SIZE_MAX) const;
  // Publishes the error entries (all, or the one with `id`) back to the endpoint's input, then
  // removes them from the error stream. Each copy gets Nats-Msg-Id "<message id>-retry-<error
  // sequence>", so the server's duplicate window (which still remembers the original's id) does
  // not drop it; the endpoint's applied index recognises it if it was processed after all.
  // Returns how many were moved. A crash between the two steps leaves the entry in the error
  // stream as well: retrying it again is harmless (a duplicate).
  std::size_t retryErrors(std::string_view endpoint, std::optional<std::uint64_t> id = {});
  // Deletes the error entries (all, or the one with `id`) for good. Returns how many.
  std::size_t purgeErrors(std::string_view endpoint, std::optional<std::uint64_t> id = {});

  // Publishes a copy of `message` (same bytes) to its destination's input with Nats-Msg-Id
  // "<message id>-<copyTag>": a duplicate delivery that the server's duplicate window does not
  // drop (a redelivery as a broker or a retrying sender produces one). Throws idem::Error
  // (permanent) when the message has no destination. Partition 0 only (unpartitioned endpoints).
  void publishCopy(const Outbound& message, std::string_view copyTag);

  // Deletes `endpoint`'s input and error streams with their consumers and everything in them
  // (the server's duplicate-window memory too). The next subscribe() creates them afresh.
  // Absent streams are no error.
  void deleteStreams(std::string_view endpoint);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem
