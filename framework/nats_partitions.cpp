// PartitionTable: partition counts in the idem_partitions KV bucket, recorded once.
#include "framework/nats_partitions.h"

#include <charconv>

#include "framework/nats_layout.h"

namespace idem::detail::nats {

namespace {
constexpr std::uint32_t kMaxPartitions = 4096;

std::uint32_t parseCount(kvEntry* entry, std::string_view endpoint) {
  const char* data = static_cast<const char*>(kvEntry_Value(entry));
  const int length = kvEntry_ValueLen(entry);
  std::uint32_t count = 0;
  auto [end, ec] = std::from_chars(data, data + length, count);
  if (ec != std::errc() || end != data + length || count == 0 || count > kMaxPartitions) {
    fail(ErrorKind::kPermanent, "the partition count recorded for endpoint " +
                                    std::string(endpoint) + " in the NATS KV bucket " +
                                    kPartitionBucket + " is not a number from 1 to " +
                                    std::to_string(kMaxPartitions));
  }
  return count;
}
}  // namespace

PartitionTable::PartitionTable(jsCtx* js, int replicas)
    : kv_(openBucket(js, kPartitionBucket, replicas, "partition bucket")) {}

std::uint32_t PartitionTable::recordOrRead(std::string_view endpoint, std::uint32_t count) {
  requireEndpointName(endpoint);
  const std::string key(endpoint);
  kvEntry* raw = nullptr;
  natsStatus s = kvStore_Get(&raw, kv_.get(), key.c_str());
  KvEntryPtr entry(raw);
  if (s == NATS_OK) return parseCount(entry.get(), endpoint);
  if (s != NATS_NOT_FOUND) check(s, "reading the partition count of " + key);
  const std::string value = std::to_string(count);
  std::uint64_t revision = 0;
  s = kvStore_CreateString(&revision, kv_.get(), key.c_str(), value.c_str());
  if (s == NATS_OK) return count;
  raw = nullptr;  // another process recorded one meanwhile: theirs stands
  const natsStatus again = kvStore_Get(&raw, kv_.get(), key.c_str());
  KvEntryPtr recorded(raw);
  if (again == NATS_OK) return parseCount(recorded.get(), endpoint);
  check(s, "recording the partition count of " + key);
  return count;
}

void PartitionTable::declare(std::string_view endpoint, std::uint32_t count) {
  if (count == 0 || count > kMaxPartitions) {
    fail(ErrorKind::kPermanent, "the partition count of " + std::string(endpoint) +
                                    " must be from 1 to " + std::to_string(kMaxPartitions));
  }
  const std::uint32_t recorded = recordOrRead(endpoint, count);
  if (recorded != count) {
    fail(ErrorKind::kPermanent,
         "endpoint " + std::string(endpoint) + " has " + std::to_string(recorded) +
             " partitions (recorded in the NATS KV bucket " + kPartitionBucket + "), not " +
             std::to_string(count) +
             " as configured here: every process must use the same partition count, and it "
             "cannot change once recorded (docs/nats.md, \"Partitioning\")");
  }
  std::lock_guard guard(lock_);
  counts_.emplace(std::string(endpoint), count);
}

std::uint32_t PartitionTable::countOf(std::string_view endpoint) {
  {
    std::lock_guard guard(lock_);
    if (auto it = counts_.find(endpoint); it != counts_.end()) return it->second;
  }
  const std::uint32_t count = recordOrRead(endpoint, 1);
  std::lock_guard guard(lock_);
  counts_.emplace(std::string(endpoint), count);
  return count;
}

std::optional<std::uint32_t> PartitionTable::knownCount(std::string_view endpoint) const {
  std::lock_guard guard(lock_);
  if (auto it = counts_.find(endpoint); it != counts_.end()) return it->second;
  return std::nullopt;
}

}  // namespace idem::detail::nats
