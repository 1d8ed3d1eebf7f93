// VersionStore: entities, their numbered versions in a time-ordered log, their heads and the
// applied index in one LMDB environment. The on-disk format (also in docs/storage-format.md):
//
//   directory      := data.mdb lock.mdb idem-store.json
//   idem-store.json:= {"format":"idem.version-store/2","endpoint":<JSON string>}\n
//                     written (atomically) once the store exists; from then on a missing or
//                     empty data.mdb is an error, never a silent fresh start.
//   u64            := 8 bytes, big-endian in keys (they sort numerically)
//   entity         := u64   numbered 1, 2, ... in creation order
//   version        := u64   1, 2, ... per entity; 0 means "no version yet"
//   seq            := u64   1, 2, ... per committed version of any entity, in commit order
//
//   db "meta"          name (ASCII)                  -> value
//       "format"       -> "idem.version-store/2"
//       "endpoint"     -> the endpoint's name (UTF-8)
//       "next-entity"  -> decimal ASCII u64, the number createEntity assigns next
//       "log-pruned-through" -> decimal ASCII u64, the highest seq retention removed
//       "retention-applied"  -> the applied sweep's position (version_store_retention.cpp)
//       other names    -> reserved for the framework (putMeta/findMeta)
//   db "entities"      entityType 0x00 key           -> entity
//                      (entityType has no 0x00; entityType + 1 + key <= 400 bytes)
//   db "entity-names"  entity                        -> entityType 0x00 key
//   db "log"           seq                           -> log record (store/log_record.h), MDB_APPEND
//   db "heads"         entity                        -> version seq stateBytes:u32 zero:u32 state
//                      (little-endian integers; the state of the head, always)
//   db "bases"         entity                        -> version state: the state just below the
//                      entity's oldest retained record, written by retention
//   db "applied"       input message id (16 bytes)   -> entity version appliedAtNs seq (BE u64s)
//   db "owed"          first seq                     -> last seq (8 bytes, big-endian)
//                      the publication set: disjoint ranges of records whose outputs are
//                      committed but not yet confirmed published
//
// Every key of log, heads and bases is 8 bytes and every value a whole number of words, so LMDB
// places those values 8-byte aligned and states are read in place (an unaligned value would be
// copied; see readAligned).
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
#include "store/little_endian.h"
#include "store/lmdb_env.h"
#include "store/log_record.h"
#include "store/version_store_impl.h"

namespace idem::store {

namespace {

constexpr std::string_view kFormat = kVersionStoreFormat;
constexpr std::string_view kFormat1 = "idem.version-store/1";
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

namespace {

// The error for a store this code cannot read; format 1 has its own advice.
[[noreturn]] void wrongFormat(const std::filesystem::path& file,
                              const std::optional<std::string>& format) {
  if (format == kFormat1) {
    fail(ErrorKind::kPermanent,
         file.string() + " is an idem version store of format 1 (" + std::string(kFormat1) +
             "); this idem reads format 2 only and does not convert stores. Format 1 was "
             "written by earlier builds of idem, which had no deployments to migrate: drain "
             "what it holds with that version, then remove the directory and start afresh.");
  }
  fail(ErrorKind::kPermanent, file.string() + " is not an idem version store of format " +
                                  std::string(kFormat) + " (format: '" + format.value_or("none") +
                                  "')");
}

constexpr std::size_t kHeadBytes = 24;  // version seq stateBytes zero
constexpr std::size_t kBaseBytes = 8;   // version

// Positions `cursor` over the publication set at the last range starting at or before `seq`,
// or else at the first range; false when the set is empty.
bool seekRanges(Cursor& cursor, std::uint64_t seq) {
  const bool found = cursor.move(MDB_SET_RANGE, key8(seq));
  if (found && getBe64(cursor.key().data()) == seq) return true;
  if (found ? cursor.move(MDB_PREV) : cursor.move(MDB_LAST)) return true;
  return cursor.move(MDB_FIRST);
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
    if (format != kFormat) wrongFormat(s.env.file(), format);
    const std::optional<std::string> owner = findMeta(txn, "endpoint");
    if (owner != s.endpoint) {
      fail(ErrorKind::kPermanent, s.env.file().string() + " belongs to endpoint '" +
                                      owner.value_or("?") + "', not to '" + s.endpoint + "'");
    }
    s.entities = *s.env.openDb(txn, "entities", true);
    s.entityNames = *s.env.openDb(txn, "entity-names", true);
    s.log = *s.env.openDb(txn, "log", true);
    s.heads = *s.env.openDb(txn, "heads", true);
    s.bases = *s.env.openDb(txn, "bases", true);
    s.applied = *s.env.openDb(txn, "applied", true);
    s.owed = *s.env.openDb(txn, "owed", true);
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
    if (format != kFormat) wrongFormat(s.env.file(), format);
    const std::optional<std::string> owner = findMeta(txn, "endpoint");
    if (!owner || (!s.endpoint.empty() && owner != s.endpoint)) {
      fail(ErrorKind::kPermanent, s.env.file().string() + " belongs to endpoint '" +
                                      owner.value_or("?") + "', not to '" + s.endpoint + "'");
    }
    s.endpoint = *owner;
    s.entities = open("entities");
    s.entityNames = open("entity-names");
    s.log = open("log");
    s.heads = open("heads");
    s.bases = open("bases");
    s.applied = open("applied");
    s.owed = open("owed");
  });
}

VersionStore::~VersionStore() = default;

const std::filesystem::path& VersionStore::directory() const { return impl_->env.directory(); }

LmdbCounters VersionStore::counters() const noexcept { return impl_->env.counters(); }

const std::string& VersionStore::endpointName() const { return impl_->endpoint; }

void VersionStore::write(const std::function<void(Txn&)>& body) {
  Impl& s = *impl_;
  s.env.write([&](Txn& txn) {
    s.pending = {};  // the body runs again from the start after the map grew
    body(txn);
    if (s.pending.owedFirst != 0) s.addOwed(txn, s.pending.owedFirst, s.pending.owedLast);
  });
}

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

// --- values -----------------------------------------------------------------------------

Applied VersionStore::Impl::decodeApplied(Bytes value, const MessageId& input) const {
  if (value.size() != 32) damaged("applied entry of " + input.toHex() + " is not 32 bytes");
  Applied where{getBe64(value.data()), getBe64(value.data() + 8), getBe64(value.data() + 24),
                static_cast<std::int64_t>(getBe64(value.data() + 16))};
  return where;
}

Head VersionStore::Impl::decodeHead(Txn& txn, Bytes value, std::uint64_t entity) const {
  const auto bad = [&](const char* why) -> Head {
    damaged("head of entity " + std::to_string(entity) + " " + why);
  };
  if (value.size() < kHeadBytes || value.size() % 8 != 0) return bad("has a bad size");
  const Bytes aligned = idem::asBytes(readAligned(txn, value));
  const std::size_t stateBytes = getLe<std::uint32_t>(aligned.data() + 16);
  if (stateBytes != aligned.size() - kHeadBytes || getLe<std::uint32_t>(aligned.data() + 20) != 0) {
    return bad("has a state length that does not fit its size");
  }
  Head head{getLe<std::uint64_t>(aligned.data()), getLe<std::uint64_t>(aligned.data() + 8),
            aligned.subspan(kHeadBytes)};
  if (head.version == 0 || head.seq == 0) return bad("names version or record 0");
  return head;
}

Snapshot VersionStore::Impl::decodeBase(Txn& txn, Bytes value, std::uint64_t entity) const {
  if (value.size() < kBaseBytes || value.size() % 8 != 0) {
    damaged("base of entity " + std::to_string(entity) + " has a bad size");
  }
  const Bytes aligned = idem::asBytes(readAligned(txn, value));
  return Snapshot{getLe<std::uint64_t>(aligned.data()), aligned.subspan(kBaseBytes)};
}

LogRecord VersionStore::Impl::decodeRecord(Txn& txn, Bytes value, std::uint64_t seq) const {
  if (value.size() % 8 != 0) damaged("log record " + std::to_string(seq) + " is not whole words");
  return decodeLogRecord(idem::asBytes(readAligned(txn, value)), seq,
                         env.file().string() + ": log record " + std::to_string(seq));
}

void VersionStore::Impl::putHead(Txn& txn, std::uint64_t entity, std::uint64_t version,
                                 std::uint64_t seq, std::span<const std::byte> state) const {
  // The state may point into the map (the head being replaced): copy it off first.
  std::vector<std::byte> value(kHeadBytes + state.size());
  putLe(value.data(), version);
  putLe(value.data() + 8, seq);
  putLe(value.data() + 16, static_cast<std::uint32_t>(state.size()));
  if (!state.empty()) std::memcpy(value.data() + kHeadBytes, state.data(), state.size());
  if (!txn.put(heads, key8(entity), value)) fail(ErrorKind::kBug, "put(heads) refused");
}

void VersionStore::Impl::putBase(Txn& txn, std::uint64_t entity, std::uint64_t version,
                                 std::span<const std::byte> state) const {
  std::vector<std::byte> value(kBaseBytes + state.size());
  putLe(value.data(), version);
  if (!state.empty()) std::memcpy(value.data() + kBaseBytes, state.data(), state.size());
  if (!txn.put(bases, key8(entity), value)) fail(ErrorKind::kBug, "put(bases) refused");
}

std::uint64_t VersionStore::Impl::prunedThrough(Txn& txn) const {
  const std::optional<Bytes> v = txn.get(meta, asBytes("log-pruned-through"));
  if (!v) return 0;
  std::uint64_t seq = 0;
  const std::string_view text = asChars(*v);
  if (std::from_chars(text.data(), text.data() + text.size(), seq).ec != std::errc{}) {
    damaged("meta log-pruned-through is not a number");
  }
  return seq;
}

// --- reads ------------------------------------------------------------------------------

std::optional<Head> VersionStore::findHead(Txn& txn, std::uint64_t entity) const {
  const std::optional<Bytes> v = txn.get(impl_->heads, key8(entity));
  if (!v) return std::nullopt;
  return impl_->decodeHead(txn, *v, entity);
}

std::uint64_t VersionStore::headVersion(Txn& txn, std::uint64_t entity) const {
  const std::optional<Head> head = findHead(txn, entity);
  return head ? head->version : 0;
}

std::uint64_t VersionStore::prunedThrough(Txn& txn) const { return impl_->prunedThrough(txn); }

std::optional<LogRecord> VersionStore::findRecord(Txn& txn, std::uint64_t seq) const {
  const std::optional<Bytes> v = txn.get(impl_->log, key8(seq));
  if (!v) return std::nullopt;
  return impl_->decodeRecord(txn, *v, seq);
}

std::optional<LogRecord> VersionStore::findVersion(Txn& txn, std::uint64_t entity,
                                                   std::uint64_t version) const {
  const std::optional<Head> head = findHead(txn, entity);
  if (!head || version == 0 || version > head->version) return std::nullopt;
  std::uint64_t seq = head->seq;
  while (seq != 0) {
    std::optional<LogRecord> record = findRecord(txn, seq);
    if (!record) return std::nullopt;  // pruned
    if (record->entity != entity) {
      impl_->damaged("log record " + std::to_string(seq) + " of entity " + std::to_string(entity) +
                     "'s chain belongs to entity " + std::to_string(record->entity));
    }
    if (record->version == version) return record;
    if (record->version < version) break;
    seq = record->prevSeq;
  }
  impl_->damaged("entity " + std::to_string(entity) + " has no record of version " +
                 std::to_string(version) + " below its head");
}

std::optional<HistoryEntry> VersionStore::findHistory(Txn& txn, std::uint64_t entity,
                                                      std::uint64_t version) const {
  std::optional<LogRecord> record = findVersion(txn, entity, version);
  if (!record) return std::nullopt;
  return record->entry;
}

std::vector<std::uint64_t> VersionStore::retainedRecords(Txn& txn, std::uint64_t entity) const {
  std::vector<std::uint64_t> seqs;
  const std::optional<Head> head = findHead(txn, entity);
  if (!head) return seqs;
  const std::uint64_t through = impl_->prunedThrough(txn);
  for (std::uint64_t seq = head->seq; seq > through;) {
    std::optional<LogRecord> record = findRecord(txn, seq);
    if (!record) {
      impl_->damaged("log record " + std::to_string(seq) + " of entity " + std::to_string(entity) +
                     " is missing above the pruned front");
    }
    seqs.push_back(seq);
    seq = record->prevSeq;
  }
  std::reverse(seqs.begin(), seqs.end());
  return seqs;
}

std::optional<Snapshot> VersionStore::findBase(Txn& txn, std::uint64_t entity) const {
  const std::optional<Bytes> v = txn.get(impl_->bases, key8(entity));
  if (!v) return std::nullopt;
  return impl_->decodeBase(txn, *v, entity);
}

std::optional<Snapshot> VersionStore::findSnapshotAtOrBefore(Txn& txn, std::uint64_t entity,
                                                             std::uint64_t version) const {
  const std::optional<Head> head = findHead(txn, entity);
  if (!head || version == 0) return std::nullopt;
  if (version >= head->version) return Snapshot{head->version, head->state};
  const std::uint64_t through = impl_->prunedThrough(txn);
  for (std::uint64_t seq = head->seq; seq > through;) {
    std::optional<LogRecord> record = findRecord(txn, seq);
    if (!record) break;
    if (record->version <= version && record->state) {
      return Snapshot{record->version, *record->state};
    }
    seq = record->prevSeq;
    if (seq == 0) return std::nullopt;  // reached version 1: the initial state
  }
  std::optional<Snapshot> base = findBase(txn, entity);
  if (base && base->version <= version) return base;
  return std::nullopt;
}

std::uint64_t VersionStore::firstRetainedVersion(Txn& txn, std::uint64_t entity) const {
  const std::optional<Head> head = findHead(txn, entity);
  if (!head) return 0;
  if (const std::optional<Snapshot> base = findBase(txn, entity)) return base->version + 1;
  return head->seq <= impl_->prunedThrough(txn) ? head->version + 1 : 1;
}

// --- writes -----------------------------------------------------------------------------

std::uint64_t VersionStore::append(Txn& txn, std::uint64_t entity, std::uint64_t version,
                                   const MessageId& inputId, const HistoryEntry& entry,
                                   std::optional<std::span<const std::byte>> state,
                                   bool stateInLog) {
  Impl& s = *impl_;
  s.requireWrite(txn, "append");
  const std::optional<Head> head = findHead(txn, entity);
  const std::uint64_t headVersion = head ? head->version : 0;
  if (version != headVersion + 1) {
    fail(ErrorKind::kBug, "append of version " + std::to_string(version) + " to entity " +
                              std::to_string(entity) + " whose head is " +
                              std::to_string(headVersion));
  }
  if (state && state->size() % 8 != 0) {
    fail(ErrorKind::kBug, "append: a state must be canonical words, not " +
                              std::to_string(state->size()) + " bytes");
  }
  if (!state && (entry.stateChanged || !head)) {
    fail(ErrorKind::kBug, "append: version " + std::to_string(version) + " of entity " +
                              std::to_string(entity) + " changes the state but none was given");
  }

  // Pointers into the map are valid only until the next write: what is needed of the current
  // head's state is copied now.
  // Once per write transaction: the pruned front and the next seq (above every record, pruned
  // ones included).
  if (s.pending.nextSeq == 0) {
    s.pending.prunedThrough = s.prunedThrough(txn);
    s.pending.nextSeq = s.pending.prunedThrough + 1;
    Cursor cursor(txn, s.log);
    if (cursor.move(MDB_LAST)) {
      s.pending.nextSeq = std::max(s.pending.nextSeq, getBe64(cursor.key().data()) + 1);
    }
  }
  const std::uint64_t through = s.pending.prunedThrough;

  std::vector<std::byte> kept;
  if (head && (!state || head->seq <= through)) {
    kept.assign(head->state.begin(), head->state.end());
  }

  const std::uint64_t seq = s.pending.nextSeq++;

  std::array<std::byte, 32> appliedValue;
  putBe64(appliedValue.data(), entity);
  putBe64(appliedValue.data() + 8, version);
  putBe64(appliedValue.data() + 16, static_cast<std::uint64_t>(entry.recordedAtNs));
  putBe64(appliedValue.data() + 24, seq);
  if (!txn.put(s.applied, idBytes(inputId), appliedValue, MDB_NOOVERWRITE)) {
    const std::optional<Applied> earlier = findApplied(txn, inputId);
    fail(ErrorKind::kBug, "append: input " + inputId.toHex() + " is already applied (entity " +
                              std::to_string(earlier ? earlier->entity : 0) + " version " +
                              std::to_string(earlier ? earlier->version : 0) + ")");
  }

  // The head's record was pruned (the entity was idle past the horizon): its state becomes the
  // base below the new record, so that the state before it stays loadable.
  if (head && head->seq <= through) s.putBase(txn, entity, head->version, kept);

  const std::optional<std::span<const std::byte>> inLog = stateInLog ? state : std::nullopt;
  const std::size_t bytes = logRecordBytes(entry, inLog);
  const std::optional<std::span<std::byte>> out = txn.reserve(s.log, key8(seq), bytes, MDB_APPEND);
  if (!out) s.damaged("log record " + std::to_string(seq) + " exists above the log's end");
  encodeLogRecord(*out, {entity, version, head ? head->seq : 0}, entry, inLog);
  s.putHead(txn, entity, version, seq, state ? *state : std::span<const std::byte>(kept));
  if (entry.outputCount > 0) {
    if (s.pending.owedFirst == 0) s.pending.owedFirst = seq;
    s.pending.owedLast = seq;
  }
  return seq;
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

// --- the publication set ---------------------------------------------------------------

void VersionStore::Impl::addOwed(Txn& txn, std::uint64_t first, std::uint64_t last) const {
  // Appends take seqs above every record, so a new range lies above every range but those of
  // markUnpublished(), which may overlap: then the set is rebuilt around it.
  std::uint64_t from = first, to = last;
  std::vector<std::uint64_t> merged;
  {
    Cursor cursor(txn, owed);
    for (bool more = seekRanges(cursor, first); more; more = cursor.move(MDB_NEXT)) {
      const std::uint64_t a = getBe64(cursor.key().data()), b = getBe64(cursor.value().data());
      if (a > last + 1) break;
      if (b + 1 < first) continue;
      from = std::min(from, a);
      to = std::max(to, b);
      merged.push_back(a);
    }
  }
  for (const std::uint64_t a : merged) txn.del(owed, key8(a));
  if (!txn.put(owed, key8(from), key8(to))) fail(ErrorKind::kBug, "put(owed) refused");
}

bool VersionStore::isUnpublished(Txn& txn, std::uint64_t seq) const {
  // This write transaction's own range goes in when its body returns: until then it is here.
  const Impl::Pending& pending = impl_->pending;
  if (!txn.readOnly() && pending.owedFirst != 0 && pending.owedFirst <= seq &&
      seq <= pending.owedLast) {
    return true;
  }
  Cursor cursor(txn, impl_->owed);
  if (!seekRanges(cursor, seq)) return false;
  if (cursor.key().size() != 8 || cursor.value().size() != 8) {
    impl_->damaged("publication set entry is not two seqs");
  }
  return getBe64(cursor.key().data()) <= seq && getBe64(cursor.value().data()) >= seq;
}

void VersionStore::markPublished(Txn& txn, std::uint64_t first, std::uint64_t last) {
  Impl& s = *impl_;
  s.requireWrite(txn, "markPublished");
  if (first > last) return;
  struct Range {
    std::uint64_t a, b;
  };
  std::vector<Range> overlapping;
  {
    Cursor cursor(txn, s.owed);
    for (bool more = seekRanges(cursor, first); more; more = cursor.move(MDB_NEXT)) {
      if (cursor.key().size() != 8 || cursor.value().size() != 8) {
        s.damaged("publication set entry is not two seqs");
      }
      const std::uint64_t a = getBe64(cursor.key().data()), b = getBe64(cursor.value().data());
      if (a > last) break;
      if (b >= first) overlapping.push_back({a, b});
    }
  }
  for (const Range& r : overlapping) {
    txn.del(s.owed, key8(r.a));
    if (r.a < first && !txn.put(s.owed, key8(r.a), key8(first - 1))) {
      fail(ErrorKind::kBug, "put(owed) refused");
    }
    if (r.b > last && !txn.put(s.owed, key8(last + 1), key8(r.b))) {
      fail(ErrorKind::kBug, "put(owed) refused");
    }
  }
}

void VersionStore::forEachUnpublished(Txn& txn, std::uint64_t after,
                                      const std::function<bool(std::uint64_t seq)>& visit) const {
  Cursor cursor(txn, impl_->owed);
  for (bool more = seekRanges(cursor, after); more; more = cursor.move(MDB_NEXT)) {
    if (cursor.key().size() != 8 || cursor.value().size() != 8) {
      impl_->damaged("publication set entry is not two seqs");
    }
    const std::uint64_t a = getBe64(cursor.key().data()), b = getBe64(cursor.value().data());
    for (std::uint64_t seq = std::max(a, after + 1); seq <= b; ++seq) {
      if (!visit(seq)) return;
    }
  }
}

bool VersionStore::isUnpublished(Txn& txn, const MessageId& input) const {
  const std::optional<Applied> applied = findApplied(txn, input);
  return applied && isUnpublished(txn, applied->seq);
}

void VersionStore::markPublished(Txn& txn, const MessageId& input) {
  if (const std::optional<Applied> applied = findApplied(txn, input)) {
    markPublished(txn, applied->seq, applied->seq);
  }
}

void VersionStore::markUnpublished(Txn& txn, const MessageId& input) {
  impl_->requireWrite(txn, "markUnpublished");
  const std::optional<Applied> applied = findApplied(txn, input);
  if (!applied)
    fail(ErrorKind::kBug, "markUnpublished: input " + input.toHex() + " is not applied");
  impl_->addOwed(txn, applied->seq, applied->seq);
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
    stats.historyEntries = txn.entries(impl_->log);
    stats.heads = txn.entries(impl_->heads);
    stats.bases = txn.entries(impl_->bases);
    stats.applied = txn.entries(impl_->applied);
    forEachUnpublished(txn, 0, [&](std::uint64_t) {
      ++stats.unpublished;
      return true;
    });
  });
  return stats;
}

}  // namespace idem::store
