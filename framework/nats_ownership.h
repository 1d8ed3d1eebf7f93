// Ownership: who owns each partition, and under which epoch, in the KV bucket idem_owners; taken
// and given back by compare-and-set on the key's revision (docs/nats.md, "Ownership and fencing").
//
//   bucket  idem_owners   key E.p<N>; value "<epoch> <member>" (owned) or "<epoch> -" (released
//                         by its last owner); history 1. Epochs only grow: each take writes the
//                         seen epoch + 1 (1 when the key is absent).
//   bucket  idem_members  key E.<member>; value a heartbeat counter (decimal). A member is live
//                         while its key's revision keeps changing (framework/nats_group.h).
//
// The KV decides who may claim a partition's changelog; the changelog's expected-sequence
// writes (framework/nats_changelog.h) are what make a stale owner harmless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "framework/nats_client.h"

namespace idem::detail::nats {

inline constexpr const char* kOwnerBucket = "idem_owners";
inline constexpr const char* kMemberBucket = "idem_members";

std::string ownerKey(std::string_view endpoint, std::uint32_t partition);
// True when `member` can be part of a KV key: [A-Za-z0-9_-]{1,64}.
bool validMemberName(std::string_view member) noexcept;

struct Owner {
  std::uint64_t epoch = 0;
  std::string member;  // empty: released
  std::uint64_t revision = 0;
};

class OwnerTable {
 public:
  // Binds the bucket, creating it with `replicas` when absent. `js` must outlive the table.
  OwnerTable(jsCtx* js, int replicas);

  // The partition's owner record; nullopt when it was never owned. Throws idem::Error
  // (transient when NATS does not answer; kPermanent for a value that is not an owner record).
  std::optional<Owner> read(std::string_view endpoint, std::uint32_t partition);
  // Takes the partition for `member` with epoch seen->epoch + 1 (1 when `seen` is nullopt),
  // provided the key is still at `seen`'s revision. Returns the new record; nullopt when another
  // take or release got in first (read again). Throws idem::Error on other failures.
  std::optional<Owner> take(std::string_view endpoint, std::uint32_t partition,
                            std::string_view member, const std::optional<Owner>& seen);
  // Marks the partition released, keeping its epoch, provided `mine` is still the record.
  // Returns false when it is not (a newer owner took it). Throws idem::Error on other failures.
  bool release(std::string_view endpoint, std::uint32_t partition, const Owner& mine);

 private:
  KvStorePtr kv_;
};

}  // namespace idem::detail::nats
