// OwnerTable: partition owners and epochs in the idem_owners KV bucket, by compare-and-set.
#include "framework/nats_ownership.h"

#include <charconv>

#include "framework/nats_layout.h"

namespace idem::detail::nats {

namespace {

Owner parseOwner(kvEntry* entry, const std::string& key) {
  const char* data = static_cast<const char*>(kvEntry_Value(entry));
  const std::string_view value(data, static_cast<std::size_t>(kvEntry_ValueLen(entry)));
  const std::size_t space = value.find(' ');
  Owner owner;
  owner.revision = kvEntry_Revision(entry);
  const std::string_view epoch = value.substr(0, space);
  auto [end, ec] = std::from_chars(epoch.data(), epoch.data() + epoch.size(), owner.epoch);
  const std::string_view member =
      space == std::string_view::npos ? std::string_view{} : value.substr(space + 1);
  if (ec != std::errc() || end != epoch.data() + epoch.size() || owner.epoch == 0 ||
      (member != "-" && !validMemberName(member))) {
    fail(ErrorKind::kPermanent, "the owner record of " + key + " in the NATS KV bucket " +
                                    kOwnerBucket + " is not '<epoch> <member>': '" +
                                    std::string(value) + "'");
  }
  if (member != "-") owner.member = member;
  return owner;
}

std::string valueOf(std::uint64_t epoch, std::string_view member) {
  return std::to_string(epoch) + " " + (member.empty() ? std::string("-") : std::string(member));
}

}  // namespace

std::string ownerKey(std::string_view endpoint, std::uint32_t partition) {
  return std::string(endpoint) + ".p" + std::to_string(partition);
}

bool validMemberName(std::string_view member) noexcept {
  // The same alphabet as endpoint names: it is part of KV keys and headers.
  return validEndpointName(member);
}

OwnerTable::OwnerTable(jsCtx* js, int replicas)
    : kv_(openBucket(js, kOwnerBucket, replicas, "owner bucket")) {}

std::optional<Owner> OwnerTable::read(std::string_view endpoint, std::uint32_t partition) {
  const std::string key = ownerKey(endpoint, partition);
  kvEntry* raw = nullptr;
  const natsStatus s = kvStore_Get(&raw, kv_.get(), key.c_str());
  KvEntryPtr entry(raw);
  if (s == NATS_NOT_FOUND) return std::nullopt;
  check(s, "reading the owner of " + key);
  return parseOwner(entry.get(), key);
}

std::optional<Owner> OwnerTable::take(std::string_view endpoint, std::uint32_t partition,
                                      std::string_view member, const std::optional<Owner>& seen) {
  if (!validMemberName(member)) {
    fail(ErrorKind::kPermanent, "not a valid member name: '" + std::string(member) + "'");
  }
  const std::string key = ownerKey(endpoint, partition);
  Owner mine;
  mine.epoch = seen ? seen->epoch + 1 : 1;
  mine.member = member;
  const std::string value = valueOf(mine.epoch, member);
  natsStatus s = seen ? kvStore_Update(&mine.revision, kv_.get(), key.c_str(), value.data(),
                                       static_cast<int>(value.size()), seen->revision)
                      : kvStore_Create(&mine.revision, kv_.get(), key.c_str(), value.data(),
                                       static_cast<int>(value.size()));
  if (s == NATS_OK) return mine;
  // Refused because the key moved on, or failed for another reason: the record tells which.
  const auto now = read(endpoint, partition);
  if ((now ? now->revision : 0) != (seen ? seen->revision : 0)) return std::nullopt;
  check(s, "taking the partition " + key);
  return std::nullopt;
}

bool OwnerTable::release(std::string_view endpoint, std::uint32_t partition, const Owner& mine) {
  const std::string key = ownerKey(endpoint, partition);
  const std::string value = valueOf(mine.epoch, {});
  std::uint64_t revision = 0;
  const natsStatus s = kvStore_Update(&revision, kv_.get(), key.c_str(), value.data(),
                                      static_cast<int>(value.size()), mine.revision);
  if (s == NATS_OK) return true;
  const auto now = read(endpoint, partition);
  if (!now || now->revision != mine.revision) return false;
  check(s, "releasing the partition " + key);
  return false;
}

}  // namespace idem::detail::nats
