// BusStore: the embedded transport's durable queues in their own LMDB environment, shared by every
// process on the machine. Per endpoint a ready queue, leases, delayed messages and an error
// queue, plus the subscriptions. Layout at the top of bus_store.cpp and in docs/storage-format.md.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "idem/embedded_transport.h"
#include "idem/transport.h"

namespace idem::store {

struct BusOptions {
  std::size_t initialMapBytes = std::size_t{64} << 20;
  std::size_t maxMapBytes = std::size_t{1} << 40;
  unsigned maxReaders = 126;
  bool durable = true;
  std::int64_t leaseNs = 30'000'000'000;  // lease timeout
  std::uint64_t maxDepth = 1'000'000;     // per endpoint: ready + leased + delayed
  std::uint64_t owner = 0;                // recorded with each lease (diagnostics); default: pid
};

// Thread safety: one BusStore per process per directory; every member may be called from any
// thread. Each mutating call is one write transaction, serialised by LMDB across processes, and
// durable when it returns (unless options.durable is false). Times are nanoseconds since the
// Unix epoch on the system clock, passed in by the caller. Endpoint names must be 1..255 bytes
// without NUL; anything else throws Error kPermanent. Other failures are idem::Error as
// translated by LmdbEnv (disk or map full: kOverloaded; damaged file: kPermanent; EIO or a failed
// commit fsync: kBug, and the bus is poisoned for this process: see LmdbEnv::write()).
class BusStore {
 public:
  // Opens (creating when absent) the bus in `dir`. Throws Error kPermanent, naming data.mdb,
  // when the file is truncated, not LMDB, not a bus, or a bus of another format.
  BusStore(std::filesystem::path dir, BusOptions options);
  ~BusStore();
  BusStore(const BusStore&) = delete;
  BusStore& operator=(const BusStore&) = delete;

  const std::filesystem::path& directory() const;

  // Adds `endpoint` to the subscribers of `messageType`; idempotent.
  void subscribe(std::string_view endpoint, std::uint64_t messageType);
  // The subscribers of `messageType`, in name order.
  std::vector<std::string> subscribers(std::uint64_t messageType) const;

  // What a lease call took, and when `endpoint` may next find work without a publish (the
  // earliest of its lease floor and the first delayed message of any endpoint; INT64_MAX: none).
  // A lower bound: waking then may find nothing.
  struct Leased {
    std::vector<Delivery> deliveries;
    std::int64_t nextDueNs = INT64_MAX;
  };

  // Looks in a read transaction first and writes nothing when there is nothing to lease and
  // nothing due. Otherwise, in one write transaction: due delayed messages (any endpoint) become
  // ready; leases of `endpoint` that expired by `nowNs` return to ready with attempt + 1 under a
  // new tag (looked for only once the endpoint's lease floor has passed); then up to `maxCount`
  // ready messages are leased until nowNs + leaseNs.
  Leased lease(std::string_view endpoint, std::size_t maxCount, std::int64_t nowNs);

  // Routes and stores every message in one write transaction (see EmbeddedTransport::publish).
  // Throws Error kOverloaded, writing nothing, when an endpoint's depth would pass maxDepth
  // because of a message that is not `committed` (outputs of committed versions always go in).
  // Returns the endpoints that received a message, ready or delayed (whose doorbells to ring).
  std::set<std::string> publish(std::span<const Outbound> messages, std::int64_t nowNs);

  // Deletes the leased messages named by `tags` (without reading them). Returns how many were;
  // stale tags are skipped.
  std::size_t ack(std::string_view endpoint, std::span<const std::uint64_t> tags);

  // publish(outputs), ack(endpoint, acks) and, when maxNext > 0, lease(endpoint, maxNext), in ONE
  // write transaction: all of it is durable, or (on a throw) none of it. Throws what publish
  // throws.
  struct Settled {
    std::set<std::string> readied;  // as publish() returns
    std::size_t acked = 0;
    Leased next;
  };
  Settled settle(std::string_view endpoint, std::span<const Outbound> outputs,
                 std::span<const std::uint64_t> acks, std::size_t maxNext, std::int64_t nowNs);

  // What this process's commits on the bus cost so far.
  BusCommits commits() const noexcept;
  // Releases the lease: the message becomes ready at `dueNs` with attempt + 1 under a new tag.
  // False (nothing changed) when the tag is stale.
  bool retryLater(std::string_view endpoint, std::uint64_t tag, std::int64_t dueNs);
  // Moves the leased message to the error queue with `report`. False when the tag is stale.
  bool deadLetter(std::string_view endpoint, std::uint64_t tag, const ErrorReport& report);

  QueueStats stats(std::string_view endpoint) const;
  std::vector<QueueStats> allStats() const;
  std::vector<ErrorEntry> errors(std::string_view endpoint, std::size_t limit) const;
  std::size_t retryErrors(std::string_view endpoint, std::optional<std::uint64_t> id);
  std::size_t purgeErrors(std::string_view endpoint, std::optional<std::uint64_t> id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::store
