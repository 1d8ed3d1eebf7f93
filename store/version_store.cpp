// VersionStore: entities, their numbered versions, snapshots and the applied index in one LMDB
// environment. The on-disk format (also in docs/storage-format.md):
//
//   directory      := data.mdb lock.mdb idem-store.json
//   idem-store.json:= {"format":"idem.version-store/1","endpoint":<JSON string>}\n
//                     written (atomically) once the store exists; from then on a missing or
//                     empty data.mdb is an error, never a silent fresh start.
//   u64            := 8 bytes, big-endian (keys sort numerically)
//   entity         := u64   numbered 1, 2, ... in creation order
//   version        := u64   1, 2, ... per entity; 0 means "no version yet"
//
//   db "meta"          name (ASCII)                  -> value
//       "format"       -> "idem.version-store/1"
//       "endpoint"     -> the endpoint's name (UTF-8)
//       "next-entity"  -> decimal ASCII u64, the number createEntity assigns next
//       "retention-entity", "retention-applied" -> sweep positions (version_store_retention.cpp)
//       other names    -> reserved for the framework (putMeta/findMeta), e.g. the watermark
//   db "entities"      entityType 0x00 key           -> entity
//                      (entityType has no 0x00; entityType + 1 + key <= 400 bytes)
//   db "entity-names"  entity                        -> entityType 0x00 key
//   db "history"       entity version                -> canonical records.capnp HistoryRecord
//   db "snapshots"     entity version                -> canonical state bytes (whole words)
//   db "applied"       input message id (16 bytes)   -> entity version appliedAtNs
//                      (appliedAtNs: u64 of the version's recordedAtNs; absent in stores
//                      written before retention, whose values are 16 bytes)
//   db "unpublished"   input message id (16 bytes)   -> (empty)
//                      inputs whose outputs are committed but not yet confirmed published
//
// Every key of history, snapshots and applied is 16 bytes and every value a whole number of
// words, so LMDB places those values 8-byte aligned and Cap'n Proto reads them in place (an
// unaligned value would be copied; see readAligned). The head of an entity is the last history
// key with its prefix, so appending a version writes no separate head record.
#include "store/version_store.h"

#include <capnp/message.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <system_error>

#include "idem/canonical.h"
#include "idem/error.h"
#include "store/history_record.h"
#include "store/lmdb_env.h"
#include "store/records.capnp.h"
#include "store/version_store_impl.h"

namespace idem::store {

namespace {

constexpr std::string_view kFormat = "idem.version-store/1";
constexpr std::string_view kMarkerName = "idem-store.json";
constexpr std::size_t kMaxEntityKeyBytes = 400;

std::string entityKey(std::string_view entityType, std::string_view key) {
  std::string k;
  k.reserve(entityType.size() + 1 + key.size());
  k.append(entityType).push_back('\0');
  k.append(key);
  return k;
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

// Writes `content` to `path` so that a crash leaves either no file or the whole file.
void writeFileAtomically(const std::filesystem::path& path, const std::string& content) {
  // A name of this process's own: two processes opening a new store at once both write it.
  const std::filesystem::path tmp = path.string() + "." + std::to_string(::getpid()) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::kPermanent, tmp.string() + ": cannot create: " + strerror(errno));
  const bool ok =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
      ::fsync(fd) == 0;
  const int savedErrno = errno;
  ::close(fd);
  if (!ok) fail(ErrorKind::kOverloaded, tmp.string() + ": cannot write: " + strerror(savedErrno));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    fail(ErrorKind::kPermanent, path.string() + ": cannot rename into place: " + ec.message());
  const int dirFd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
}

}  // namespace

VersionStore::VersionStore(std::filesystem::path dir, std::string endpointName,
                           StoreOptions options) {
  const std::filesystem::path marker = dir / kMarkerName;
  const std::filesystem::path data = dir / "data.mdb";
  std::error_code ec;
  if (std::filesystem::exists(marker, ec)) {
    const auto size = std::filesystem::file_size(data, ec);
    if (ec || size == 0) {
      fail(ErrorKind::kPermanent,
           data.string() + " is " + (ec ? "missing" : "empty") + " but " + marker.string() +
               " says a version store existed here; refusing to start afresh (inputs would be "
               "processed twice). Restore the file from a backup.");
    }
  }

  impl_ = std::make_unique<Impl>(dir, options);
  impl_->endpoint = std::move(endpointName);
  Impl& s = *impl_;
  if (options.readOnly) {
    openReadOnly();
    return;
  }
  s.env.write([&](Txn& txn) {
    std::optional<MDB_dbi> meta = s.env.openDb(txn, "meta", false);
    if (!meta) {
      MDB_dbi mainDb = 0;
      txn.check(mdb_dbi_open(txn.raw(), nullptr, 0, &mainDb), "mdb_dbi_open(main)");
      if (txn.entries(mainDb) != 0) {
        fail(ErrorKind::kPermanent,
             s.env.file().string() + " is an LMDB file but not an idem version store (no meta)");
      }
      meta = s.env.openDb(txn, "meta", true);
      s.meta = *meta;
      if (!txn.put(s.meta, asBytes("format"), asBytes(kFormat), MDB_NOOVERWRITE) ||
          !txn.put(s.meta, asBytes("endpoint"), asBytes(s.endpoint), MDB_NOOVERWRITE) ||
          !txn.put(s.meta, asBytes("next-entity"), asBytes("1"), MDB_NOOVERWRITE)) {
        fail(ErrorKind::kBug, s.env.file().string() + ": meta written twice while creating");
      }
    }
    s.meta = *meta;
    const std::optional<std::string> format = findMeta(txn, "format");
    if (format != kFormat) {
      fail(ErrorKind::kPermanent,
           s.env.file().string() + " is not an idem version store of format " +
               std::string(kFormat) + " (format: '" + format.value_or("none") + "')");
    }
    const std::optional<std::string> owner = findMeta(txn, "endpoint");
    if (owner != s.endpoint) {
      fail(ErrorKind::kPermanent, s.env.file().string() + " belongs to endpoint '" +
                                      owner.value_or("?") + "', not to '" + s.endpoint + "'");
    }
    s.entities = *s.env.openDb(txn, "entities", true);
    s.entityNames = *s.env.openDb(txn, "entity-names", true);
    s.history = *s.env.openDb(txn, "history", true);
    s.snapshots = *s.env.openDb(txn, "snapshots", true);
    s.applied = *s.env.openDb(txn, "applied", true);
    s.unpublished = *s.env.openDb(txn, "unpublished", true);
  });

  // Only after the store's creation committed: from now on its data file must never vanish.
  if (!std::filesystem::exists(marker, ec)) {
    writeFileAtomically(marker, "{\"format\":" + jsonString(kFormat) +
                                    ",\"endpoint\":" + jsonString(s.endpoint) + "}\n");
  }
}

void VersionStore::openReadOnly() {
  Impl& s = *impl_;
  s.env.readKeepingDbs([&](Txn& txn) {
    const auto open = [&](const char* name) {
      const std::optional<MDB_dbi> dbi = s.env.openDb(txn, name, false);
      if (!dbi) {
        fail(ErrorKind::kPermanent,
             s.env.file().string() + " is not an idem version store (no database '" + name + "')");
      }
      return *dbi;
    };
    s.meta = open("meta");
    const std::optional<std::string> format = findMeta(txn, "format");
    if (format != kFormat) {
      fail(ErrorKind::kPermanent,
           s.env.file().string() + " is not an idem version store of format " +
               std::string(kFormat) + " (format: '" + format.value_or("none") + "')");
    }
    const std::optional<std::string> owner = findMeta(txn, "endpoint");
    if (!owner || (!s.endpoint.empty() && owner != s.endpoint)) {
      fail(ErrorKind::kPermanent, s.env.file().string() + " belongs to endpoint '" +
                                      owner.value_or("?") + "', not to '" + s.endpoint + "'");
    }
    s.endpoint = *owner;
    s.entities = open("entities");
    s.entityNames = open("entity-names");
    s.history = open("history");
    s.snapshots = open("snapshots");
    s.applied = open("applied");
    s.unpublished = open("unpublished");
  });
}

VersionStore::~VersionStore() = default;

const std::filesystem::path& VersionStore::directory() const { return impl_->env.directory(); }

const std::string& VersionStore::endpointName() const { return impl_->endpoint; }

void VersionStore::write(const std::function<void(Txn&)>& body) { impl_->env.write(body); }

void VersionStore::read(const std::function<void(Txn&)>& body) const { impl_->env.read(body); }

std::optional<Applied> VersionStore::findApplied(Txn& txn, const MessageId& input) const {
  const std::optional<Bytes> v = txn.get(impl_->applied, idBytes(input));
  if (!v) return std::nullopt;
  return impl_->decodeApplied(*v, input);
}

std::optional<std::uint64_t> VersionStore::findEntity(Txn& txn, std::string_view entityType,
                                                      std::string_view key) const {
  if (entityType.size() + 1 + key.size() > kMaxEntityKeyBytes) return std::nullopt;
  const std::string k = entityKey(entityType, key);
  const std::optional<Bytes> v = txn.get(impl_->entities, asBytes(k));
  if (!v) return std::nullopt;
  if (v->size() != 8) impl_->damaged("entity number of '" + std::string(entityType) + "' bad size");
  return getBe64(v->data());
}

std::uint64_t VersionStore::createEntity(Txn& txn, std::string_view entityType,
                                         std::string_view key) {
  Impl& s = *impl_;
  s.requireWrite(txn, "createEntity");
  if (entityType.find('\0') != std::string_view::npos) {
    fail(ErrorKind::kPermanent, "entity type contains a NUL byte: not storable");
  }
  if (entityType.size() + 1 + key.size() > kMaxEntityKeyBytes) {
    fail(ErrorKind::kPermanent, "entity '" + std::string(entityType) + "' key of " +
                                    std::to_string(key.size()) + " bytes exceeds the limit of " +
                                    std::to_string(kMaxEntityKeyBytes) + " bytes (type + 1 + key)");
  }
  const std::optional<std::string> nextText = findMeta(txn, "next-entity");
  std::uint64_t next = 0;
  if (!nextText ||
      std::from_chars(nextText->data(), nextText->data() + nextText->size(), next).ec !=
          std::errc{} ||
      next == 0) {
    s.damaged("meta next-entity is missing or not a number");
  }
  const std::string k = entityKey(entityType, key);
  const Key8 number = key8(next);
  if (!txn.put(s.entities, asBytes(k), number, MDB_NOOVERWRITE)) {
    fail(ErrorKind::kBug, "createEntity: entity '" + std::string(entityType) + "' already exists");
  }
  // Numbers only grow, so the name is appended at the end of entity-names.
  if (!txn.put(s.entityNames, number, asBytes(k), MDB_APPEND)) {
    s.damaged("entity-names already holds number " + std::to_string(next) + " or a larger one");
  }
  putMeta(txn, "next-entity", std::to_string(next + 1));
  return next;
}

std::optional<EntityName> VersionStore::findEntityName(Txn& txn, std::uint64_t entity) const {
  const std::optional<Bytes> v = txn.get(impl_->entityNames, key8(entity));
  if (!v) return std::nullopt;
  const std::string_view name = asChars(*v);
  const std::size_t nul = name.find('\0');
  if (nul == std::string_view::npos) impl_->damaged("entity name without separator");
  return EntityName{std::string(name.substr(0, nul)), std::string(name.substr(nul + 1))};
}

std::uint64_t VersionStore::headVersion(Txn& txn, std::uint64_t entity) const {
  Cursor cursor(txn, impl_->history);
  // The first key past this entity's last possible version, then one back.
  const bool past = cursor.move(MDB_SET_RANGE, key16(entity, kLastVersion));
  if (past && getBe64(cursor.key().data()) == entity) {
    return kLastVersion;  // only reachable with a version of 2^64-1: treat as the head
  }
  if (!(past ? cursor.move(MDB_PREV) : cursor.move(MDB_LAST))) return 0;
  const Bytes k = cursor.key();
  if (k.size() != 16) impl_->damaged("history key is not 16 bytes");
  return getBe64(k.data()) == entity ? getBe64(k.data() + 8) : 0;
}

std::optional<HistoryEntry> VersionStore::findHistory(Txn& txn, std::uint64_t entity,
                                                      std::uint64_t version) const {
  const std::optional<Bytes> v = txn.get(impl_->history, key16(entity, version));
  if (!v) return std::nullopt;
  const std::string what = impl_->env.file().string() + ": history of entity " +
                           std::to_string(entity) + " version " + std::to_string(version);
  if (v->size() % 8 != 0) impl_->damaged("history value is not a whole number of words");
  const kj::ArrayPtr<const capnp::word> words = impl_->readAligned(txn, *v);
  return decodeHistoryRecord(idem::asBytes(words), what);
}

Applied VersionStore::Impl::decodeApplied(Bytes value, const MessageId& input) const {
  if (value.size() != 24 && value.size() != 16) {
    damaged("applied entry of " + input.toHex() + " is not 24 bytes");
  }
  Applied where{getBe64(value.data()), getBe64(value.data() + 8), std::nullopt};
  if (value.size() == 24) where.appliedAtNs = static_cast<std::int64_t>(getBe64(value.data() + 16));
  return where;
}

std::optional<Snapshot> VersionStore::findSnapshotAtOrBefore(Txn& txn, std::uint64_t entity,
                                                             std::uint64_t version) const {
  Cursor cursor(txn, impl_->snapshots);
  const bool found = cursor.move(MDB_SET_RANGE, key16(entity, version));
  const bool exact = found && std::ranges::equal(cursor.key(), key16(entity, version));
  if (!exact && !(found ? cursor.move(MDB_PREV) : cursor.move(MDB_LAST))) return std::nullopt;
  const Bytes k = cursor.key();
  if (k.size() != 16) impl_->damaged("snapshot key is not 16 bytes");
  if (getBe64(k.data()) != entity) return std::nullopt;
  const Bytes value = cursor.value();
  if (value.size() % 8 != 0) impl_->damaged("snapshot is not a whole number of words");
  return Snapshot{getBe64(k.data() + 8), idem::asBytes(impl_->readAligned(txn, value))};
}

void VersionStore::append(Txn& txn, std::uint64_t entity, std::uint64_t version,
                          const MessageId& inputId, const HistoryEntry& entry,
                          std::optional<std::span<const std::byte>> state) {
  Impl& s = *impl_;
  s.requireWrite(txn, "append");
  const std::uint64_t head = headVersion(txn, entity);
  if (version != head + 1) {
    fail(ErrorKind::kBug, "append of version " + std::to_string(version) + " to entity " +
                              std::to_string(entity) + " whose head is " + std::to_string(head));
  }
  if (state && state->size() % 8 != 0) {
    fail(ErrorKind::kBug, "append: a state snapshot must be canonical words, not " +
                              std::to_string(state->size()) + " bytes");
  }
  const Key16 where = key16(entity, version);
  std::array<std::byte, 24> appliedValue;
  std::memcpy(appliedValue.data(), where.data(), where.size());
  putBe64(appliedValue.data() + 16, static_cast<std::uint64_t>(entry.recordedAtNs));
  if (!txn.put(s.applied, idBytes(inputId), appliedValue, MDB_NOOVERWRITE)) {
    const std::optional<Applied> earlier = findApplied(txn, inputId);
    fail(ErrorKind::kBug, "append: input " + inputId.toHex() + " is already applied (entity " +
                              std::to_string(earlier ? earlier->entity : 0) + " version " +
                              std::to_string(earlier ? earlier->version : 0) + ")");
  }

  capnp::MallocMessageBuilder message(kBuilderFirstSegmentWords);
  auto record = message.initRoot<records::HistoryRecord>();
  record.setHandlerId({entry.handlerId.data(), entry.handlerId.size()});
  record.setHandlerVersion(entry.handlerVersion);
  record.setOutputCount(entry.outputCount);
  record.setRecordedAtNs(entry.recordedAtNs);
  record.setOutputDigest({entry.outputDigest.data(), entry.outputDigest.size()});
  record.setStateChanged(entry.stateChanged);
  record.setInput({reinterpret_cast<const kj::byte*>(entry.input.data()), entry.input.size()});
  const Words canonical = canonicalOf(record.asReader());
  // The head check above makes these keys new; NOOVERWRITE states it. (MDB_APPEND would be
  // wrong: another entity with a higher number may already have history.)
  if (!txn.put(s.history, where, idem::asBytes(canonical.asPtr()), MDB_NOOVERWRITE) ||
      (state && !txn.put(s.snapshots, where, *state, MDB_NOOVERWRITE))) {
    s.damaged("history or snapshot of entity " + std::to_string(entity) + " version " +
              std::to_string(version) + " exists above the head");
  }
}

void VersionStore::dropSnapshot(Txn& txn, std::uint64_t entity, std::uint64_t version) {
  impl_->requireWrite(txn, "dropSnapshot");
  txn.del(impl_->snapshots, key16(entity, version));
}

void VersionStore::forEachEntity(
    Txn& txn, std::uint64_t after,
    const std::function<bool(std::uint64_t entity, const EntityName&)>& visit) const {
  if (after == kLastVersion) return;
  Cursor cursor(txn, impl_->entityNames);
  for (bool more = cursor.move(MDB_SET_RANGE, key8(after + 1)); more;
       more = cursor.move(MDB_NEXT)) {
    const Bytes k = cursor.key();
    const std::string_view name = asChars(cursor.value());
    const std::size_t nul = name.find('\0');
    if (k.size() != 8 || nul == std::string_view::npos) impl_->damaged("bad entity-names entry");
    if (!visit(getBe64(k.data()),
               EntityName{std::string(name.substr(0, nul)), std::string(name.substr(nul + 1))})) {
      return;
    }
  }
}

void VersionStore::markUnpublished(Txn& txn, const MessageId& input) {
  impl_->requireWrite(txn, "markUnpublished");
  if (!txn.put(impl_->unpublished, idBytes(input), {})) {
    fail(ErrorKind::kBug, "markUnpublished: put refused");
  }
}

bool VersionStore::isUnpublished(Txn& txn, const MessageId& input) const {
  return txn.get(impl_->unpublished, idBytes(input)).has_value();
}

void VersionStore::markPublished(Txn& txn, const MessageId& input) {
  impl_->requireWrite(txn, "markPublished");
  txn.del(impl_->unpublished, idBytes(input));
}

void VersionStore::forEachUnpublished(
    Txn& txn, const std::optional<MessageId>& after,
    const std::function<bool(const MessageId& input)>& visit) const {
  Cursor cursor(txn, impl_->unpublished);
  bool more = after ? cursor.move(MDB_SET_RANGE, idBytes(*after)) : cursor.move(MDB_FIRST);
  if (more && after && std::ranges::equal(cursor.key(), idBytes(*after))) {
    more = cursor.move(MDB_NEXT);
  }
  for (; more; more = cursor.move(MDB_NEXT)) {
    const Bytes k = cursor.key();
    std::optional<MessageId> id =
        MessageId::fromBytes(std::span(reinterpret_cast<const std::uint8_t*>(k.data()), k.size()));
    if (!id) impl_->damaged("publication set key is not 16 bytes");
    if (!visit(*id)) return;
  }
}

std::optional<std::string> VersionStore::findMeta(Txn& txn, std::string_view name) const {
  const std::optional<Bytes> v = txn.get(impl_->meta, asBytes(name));
  if (!v) return std::nullopt;
  return std::string(asChars(*v));
}

void VersionStore::putMeta(Txn& txn, std::string_view name, std::string_view value) {
  impl_->requireWrite(txn, "putMeta");
  if (!txn.put(impl_->meta, asBytes(name), asBytes(value))) {
    fail(ErrorKind::kBug, "putMeta: put refused");
  }
}

VersionStore::Stats VersionStore::stats() const {
  Stats stats;
  const MDB_envinfo info = impl_->env.info();
  stats.mapBytes = info.me_mapsize;
  stats.usedBytes = (info.me_last_pgno + 1) * impl_->env.pageSize();
  read([&](Txn& txn) {
    stats.entities = txn.entries(impl_->entityNames);
    stats.historyEntries = txn.entries(impl_->history);
    stats.snapshots = txn.entries(impl_->snapshots);
    stats.applied = txn.entries(impl_->applied);
    stats.unpublished = txn.entries(impl_->unpublished);
  });
  return stats;
}

}  // namespace idem::store
