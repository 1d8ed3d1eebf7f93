// PartitionTable: each endpoint's partition count, kept in the KV bucket idem_partitions
// (framework/nats_layout.h) so that every process routes to an endpoint with the same count.
// A count is recorded once (by the first process that declares it, or as 1 by the first sender
// that needs it) and never changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "framework/nats_client.h"

namespace idem::detail::nats {

class PartitionTable {
 public:
  // Binds the bucket, creating it with `replicas` when absent. `js` must outlive the table.
  // Throws idem::Error.
  PartitionTable(jsCtx* js, int replicas);

  // Records `count` for `endpoint` unless a count is recorded already; throws idem::Error
  // kPermanent naming both when the recorded count differs. Thread-safe.
  void declare(std::string_view endpoint, std::uint32_t count);
  // The recorded count of `endpoint`; records 1 when none is (first use fixes it). Cached: a
  // count never changes. Throws idem::Error (transient when NATS does not answer). Thread-safe.
  std::uint32_t countOf(std::string_view endpoint);
  // The count of `endpoint` when this process already knows it (declared, or read before);
  // nullopt otherwise. No I/O. Thread-safe.
  std::optional<std::uint32_t> knownCount(std::string_view endpoint) const;

 private:
  // Creates the key with `count` unless present; returns the recorded count.
  std::uint32_t recordOrRead(std::string_view endpoint, std::uint32_t count);

  KvStorePtr kv_;
  mutable std::mutex lock_;
  std::map<std::string, std::uint32_t, std::less<>> counts_;
};

}  // namespace idem::detail::nats
