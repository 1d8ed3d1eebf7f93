// NatsPartitionGroup: the processes serving an endpoint over NATS share its partitions without an
// operator. Each is a member of the endpoint's group (a heartbeat in the KV bucket idem_members),
// partitions are balanced over the live members, and each partition is served by its owner of
// the newest epoch (KV bucket idem_owners, compare-and-set), whose committed versions go to the
// partition's changelog stream before any output is published. An owner that stalls past its
// lease is replaced; when it wakes up, its next changelog append is refused by the server
// (fenced) and it stops serving the partition at once. A new owner starts from an empty store,
// restored from the changelog, so a lost disk or machine loses nothing committed.
// Protocol, failure table and limits: docs/nats.md, "Ownership and fencing".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "idem/endpoint.h"
#include "idem/nats_transport.h"

namespace idem {

struct NatsGroupOptions {
  // This process's name in the group, unique among the processes serving the same endpoints:
  // [A-Za-z0-9_-]{1,64}. A restarted process may reuse its name.
  std::string member;
  // A member whose heartbeat did not change for this long is dead: its partitions move.
  std::chrono::milliseconds lease{5'000};
  // Between heartbeats (and assignment rounds); 0: lease / 4.
  std::chrono::milliseconds heartbeat{0};
  // Empty: balance every partition over the live members. Otherwise exactly these partitions of
  // every endpoint added, each taken from whoever owns it (fenced all the same): `--partitions
  // 0-1,3` with fencing.
  std::vector<std::uint32_t> partitions;
};

// What a member serves now.
struct ServedPartition {
  std::string endpoint;
  std::uint32_t partition = 0;
  std::uint64_t epoch = 0;
  std::string label;  // "E.p<N>"
  EndpointStats stats;
  std::uint64_t restoredRecords = 0;  // versions its store was restored with
};

class NatsPartitionGroup {
 public:
  // Opens a connection of its own (nats.options()) and the owner, member and changelog state.
  // `nats` must outlive the group. Throws idem::Error (kPermanent for an invalid member name).
  NatsPartitionGroup(NatsTransport& nats, NatsGroupOptions options);
  ~NatsPartitionGroup();
  NatsPartitionGroup(const NatsPartitionGroup&) = delete;
  NatsPartitionGroup& operator=(const NatsPartitionGroup&) = delete;

  // Adds endpoint `endpoint`, whose partitions this member may serve: `handlers()` makes its
  // handler set (once per partition served), `optionsFor(N)` partition N's EndpointOptions (its
  // storeDirectory above all: the group deletes that directory before it restores the partition
  // into it; its afterCommit is the group's). Before run().
  void add(std::string endpoint, std::function<Handlers()> handlers,
           std::function<EndpointOptions(std::uint32_t partition)> optionsFor);

  // Heartbeats, takes and gives back partitions, and serves each owned one with an Endpoint on a
  // thread of its own, until `stop`; then drains every served partition and releases it (so the
  // others take it at once rather than after the lease). Throws idem::Error on what the group
  // cannot go on with (a permanent error of an endpoint other than a fence); transient NATS
  // failures are retried.
  void run(std::stop_token stop);

  // Thread-safe.
  std::vector<ServedPartition> served() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A member name for this process: "<hostname>-<pid>", cut to what validMemberName accepts.
std::string defaultMemberName();

}  // namespace idem
