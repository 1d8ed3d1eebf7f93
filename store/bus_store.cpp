// BusStore: the embedded transport's durable queues. The on-disk format (also in
// docs/storage-format.md, section "Bus"):
//
//   directory  := data.mdb lock.mdb doorbell      (doorbell: see framework/bus_doorbell.h)
//   u32, u64   := big-endian, so that keys sort numerically
//   nsTime     := u64, nanoseconds since the Unix epoch (system clock)
//   endpoint   := 1..255 bytes, no 0x00
//   seq        := u64 from meta "next-seq": 1, 2, ... never reused. A message is stored under a
//                 new seq each time it is handed out anew (lease expired, retryLater, error
//                 retry), so a seq names one delivery: it is the Delivery tag. A settle call with
//                 an old tag finds nothing and changes nothing.
//
//   db "meta"      "format"          -> "idem.bus/1"
//                  "next-seq"        -> u64
//   db "messages"  seq               -> attempt:u32 endpointLength:u32 endpoint envelope
//   db "ready"     endpoint 0x00 seq -> (empty)
//   db "leased"    endpoint 0x00 seq -> expiry:nsTime owner:u64
//   db "delayed"   due:nsTime seq    -> (empty)                         (every endpoint's)
//   db "errors"    endpoint 0x00 seq -> attempts:u32 reasonLength:u32 detailLength:u32 0:u32
//                                       failedAt:nsTime reason detail envelope
//   db "subs"      messageType:u64 endpoint -> (empty)
//   db "counts"    endpoint          -> ready:u64 leased:u64 delayed:u64 errors:u64
//
// Every stored message is in exactly one of ready, leased and delayed; a dead-lettered one leaves
// "messages" and lives on in "errors" with its bytes. "counts" mirrors those four indexes per
// endpoint (updated in the same transaction), is the registry of known endpoints, and makes the
// back-pressure check and the statistics O(1). Keys of "messages" are appended (MDB_APPEND).
#include "store/bus_store.h"

#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <string>

#include "idem/error.h"
#include "store/lmdb_env.h"

namespace idem::store {

namespace {

constexpr std::string_view kFormat = "idem.bus/1";
constexpr std::size_t kMaxEndpointBytes = 255;
constexpr std::size_t kMaxPromotedPerCall = 4096;

enum Column { kReady, kLeased, kDelayed, kErrors, kColumns };
using Counts = std::array<std::int64_t, kColumns>;

void appendBe(std::string& s, std::uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    s.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::uint64_t readBe(const std::byte* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

std::string be64(std::uint64_t v) {
  std::string s;
  appendBe(s, v, 8);
  return s;
}

std::string prefixOf(std::string_view endpoint) {
  std::string k(endpoint);
  k.push_back('\0');
  return k;
}

std::string endpointKey(std::string_view endpoint, std::uint64_t seq) {
  std::string k = prefixOf(endpoint);
  appendBe(k, seq, 8);
  return k;
}

std::string timeKey(std::int64_t ns, std::uint64_t seq) {
  std::string k = be64(static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0)));
  appendBe(k, seq, 8);
  return k;
}

bool startsWith(Bytes key, std::string_view prefix) {
  return asChars(key).substr(0, prefix.size()) == prefix;
}

void checkEndpoint(std::string_view endpoint) {
  if (endpoint.empty() || endpoint.size() > kMaxEndpointBytes ||
      endpoint.find('\0') != std::string_view::npos) {
    fail(ErrorKind::kPermanent, "invalid endpoint name '" + std::string(endpoint) +
                                    "': must be 1.." + std::to_string(kMaxEndpointBytes) +
                                    " bytes without NUL");
  }
}

std::int64_t toNs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// A message copied out of the map (map pointers die at the next write in the transaction).
struct StoredMessage {
  std::uint32_t attempt = 0;
  std::string endpoint;
  idem::Bytes envelope;
};

}  // namespace

struct BusStore::Impl {
  Impl(std::filesystem::path dir, const BusOptions& o)
      : env(std::move(dir),
            EnvOptions{o.initialMapBytes, o.maxMapBytes, o.maxReaders, 12, o.durable}),
        options(o) {}

  LmdbEnv env;
  BusOptions options;
  MDB_dbi meta = 0, messages = 0, ready = 0, leased = 0, delayed = 0, errors = 0, subs = 0,
          counts = 0;

  [[noreturn]] void damaged(const std::string& what) const {
    fail(ErrorKind::kPermanent, env.file().string() + ": damaged bus: " + what);
  }

  Counts readCounts(Txn& txn, std::string_view endpoint) const {
    Counts c{};
    if (auto v = txn.get(counts, asBytes(endpoint))) {
      if (v->size() != 8 * kColumns) damaged("counts of '" + std::string(endpoint) + "'");
      for (int i = 0; i < kColumns; ++i) {
        c[i] = static_cast<std::int64_t>(readBe(v->data() + 8 * i, 8));
      }
    }
    return c;
  }

  StoredMessage readMessage(Txn& txn, std::uint64_t seq) const {
    auto v = txn.get(messages, asBytes(be64(seq)));
    if (!v) damaged("message " + std::to_string(seq) + " is indexed but missing");
    if (v->size() < 8) damaged("message " + std::to_string(seq) + " is too short");
    StoredMessage m;
    m.attempt = static_cast<std::uint32_t>(readBe(v->data(), 4));
    const std::size_t length = readBe(v->data() + 4, 4);
    if (v->size() < 8 + length) damaged("message " + std::to_string(seq) + " is too short");
    m.endpoint.assign(asChars(v->subspan(8, length)));
    m.envelope.assign(v->begin() + static_cast<std::ptrdiff_t>(8 + length), v->end());
    return m;
  }

  ErrorEntry readError(Bytes key, Bytes v) const {
    if (v.size() < 24) damaged("error record too short");
    ErrorEntry e;
    e.id = readBe(key.data() + key.size() - 8, 8);
    e.report.attempts = static_cast<std::uint32_t>(readBe(v.data(), 4));
    const std::size_t reasonLength = readBe(v.data() + 4, 4);
    const std::size_t detailLength = readBe(v.data() + 8, 4);
    e.report.failedAt = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
        std::chrono::nanoseconds(readBe(v.data() + 16, 8))));
    if (v.size() < 24 + reasonLength + detailLength) damaged("error record too short");
    e.report.reason.assign(asChars(v.subspan(24, reasonLength)));
    e.report.detail.assign(asChars(v.subspan(24 + reasonLength, detailLength)));
    e.envelope.assign(v.begin() + static_cast<std::ptrdiff_t>(24 + reasonLength + detailLength),
                      v.end());
    return e;
  }

  // Keys of `dbi` starting with `prefix`, in order, at most `limit`.
  static std::vector<std::string> keysWithPrefix(Txn& txn, MDB_dbi dbi, std::string_view prefix,
                                                 std::size_t limit) {
    std::vector<std::string> keys;
    Cursor cursor(txn, dbi);
    for (bool ok = prefix.empty() ? cursor.move(MDB_FIRST)
                                  : cursor.move(MDB_SET_RANGE, asBytes(prefix));
         ok && keys.size() < limit && startsWith(cursor.key(), prefix);
         ok = cursor.move(MDB_NEXT)) {
      keys.emplace_back(asChars(cursor.key()));
    }
    return keys;
  }

  class Writer;
};

// The writes of one transaction: assigns seqs and accumulates count changes, written by finish().
// Constructed inside the write body, so a body re-run after map growth starts afresh.
class BusStore::Impl::Writer {
 public:
  Writer(BusStore::Impl& s, Txn& txn) : s_(s), txn_(txn) {
    auto v = txn.get(s.meta, asBytes("next-seq"));
    if (!v || v->size() != 8) s.damaged("meta next-seq is missing");
    next_ = first_ = readBe(v->data(), 8);
  }

  void add(std::string_view endpoint, Column column, std::int64_t n) {
    auto it = deltas_.find(endpoint);
    if (it == deltas_.end()) it = deltas_.emplace(std::string(endpoint), Counts{}).first;
    it->second[column] += n;
  }

  // Stores a new delivery of `envelope` for `endpoint`: ready now, or delayed until `dueNs`.
  std::uint64_t enqueue(std::string_view endpoint, std::uint32_t attempt,
                        std::span<const std::byte> envelope, std::optional<std::int64_t> dueNs) {
    const std::uint64_t seq = next_++;
    std::string value;
    value.reserve(8 + endpoint.size() + envelope.size());
    appendBe(value, attempt, 4);
    appendBe(value, endpoint.size(), 4);
    value.append(endpoint).append(asChars(envelope));
    if (!txn_.put(s_.messages, asBytes(be64(seq)), asBytes(value), MDB_APPEND)) {
      s_.damaged("meta next-seq " + std::to_string(seq) + " is behind the messages");
    }
    if (dueNs) {
      (void)txn_.put(s_.delayed, asBytes(timeKey(*dueNs, seq)), {});
      add(endpoint, kDelayed, 1);
    } else {
      (void)txn_.put(s_.ready, asBytes(endpointKey(endpoint, seq)), {});
      add(endpoint, kReady, 1);
    }
    return seq;
  }

  // Removes the lease `tag` of `endpoint` and its message; nullopt when there is no such lease.
  std::optional<StoredMessage> takeLease(std::string_view endpoint, std::uint64_t tag) {
    const std::string key = endpointKey(endpoint, tag);
    if (!txn_.get(s_.leased, asBytes(key))) return std::nullopt;
    StoredMessage m = s_.readMessage(txn_, tag);
    txn_.del(s_.leased, asBytes(key));
    txn_.del(s_.messages, asBytes(be64(tag)));
    add(endpoint, kLeased, -1);
    return m;
  }

  void promoteDue(std::int64_t nowNs) {
    std::vector<std::string> due;
    {
      Cursor cursor(txn_, s_.delayed);
      for (bool ok = cursor.move(MDB_FIRST); ok && due.size() < kMaxPromotedPerCall;
           ok = cursor.move(MDB_NEXT)) {
        if (cursor.key().size() != 16) s_.damaged("delayed key of wrong size");
        if (static_cast<std::int64_t>(readBe(cursor.key().data(), 8)) > nowNs) break;
        due.emplace_back(asChars(cursor.key()));
      }
    }
    for (const std::string& key : due) {
      const std::uint64_t seq = readBe(asBytes(key).data() + 8, 8);
      const std::string endpoint = s_.readMessage(txn_, seq).endpoint;
      txn_.del(s_.delayed, asBytes(key));
      (void)txn_.put(s_.ready, asBytes(endpointKey(endpoint, seq)), {});
      add(endpoint, kDelayed, -1);
      add(endpoint, kReady, 1);
    }
  }

  void reclaimExpired(std::string_view endpoint, std::int64_t nowNs) {
    const std::string prefix = prefixOf(endpoint);
    std::vector<std::uint64_t> expired;
    {
      Cursor cursor(txn_, s_.leased);
      for (bool ok = cursor.move(MDB_SET_RANGE, asBytes(prefix));
           ok && startsWith(cursor.key(), prefix); ok = cursor.move(MDB_NEXT)) {
        if (cursor.value().size() != 16) s_.damaged("lease record of wrong size");
        if (static_cast<std::int64_t>(readBe(cursor.value().data(), 8)) <= nowNs) {
          expired.push_back(readBe(cursor.key().data() + prefix.size(), 8));
        }
      }
    }
    for (std::uint64_t tag : expired) {
      std::optional<StoredMessage> m = takeLease(endpoint, tag);
      enqueue(endpoint, m->attempt + 1, m->envelope, std::nullopt);
    }
  }

  // Refuses the transaction when an endpoint that gained messages is now deeper than `maxDepth`.
  void checkDepth(std::uint64_t maxDepth) {
    for (const auto& [endpoint, delta] : deltas_) {
      if (delta[kReady] + delta[kDelayed] <= 0) continue;
      const Counts now = s_.readCounts(txn_, endpoint);
      const std::int64_t depth = now[kReady] + now[kLeased] + now[kDelayed] + delta[kReady] +
                                 delta[kLeased] + delta[kDelayed];
      if (depth > static_cast<std::int64_t>(maxDepth)) {
        fail(ErrorKind::kOverloaded,
             "bus queue of endpoint '" + endpoint + "' is full: " + std::to_string(depth) +
                 " messages would exceed " + std::to_string(maxDepth) + "; back off and retry");
      }
    }
  }

  void finish() {
    if (next_ != first_) {
      (void)txn_.put(s_.meta, asBytes("next-seq"), asBytes(be64(next_)));
    }
    for (const auto& [endpoint, delta] : deltas_) {
      Counts c = s_.readCounts(txn_, endpoint);
      std::string value;
      for (int i = 0; i < kColumns; ++i) {
        c[i] += delta[i];
        if (c[i] < 0) s_.damaged("count of '" + endpoint + "' went negative");
        appendBe(value, static_cast<std::uint64_t>(c[i]), 8);
      }
      (void)txn_.put(s_.counts, asBytes(endpoint), asBytes(value));
    }
  }

 private:
  BusStore::Impl& s_;
  Txn& txn_;
  std::uint64_t first_ = 0;
  std::uint64_t next_ = 0;
  std::map<std::string, Counts, std::less<>> deltas_;
};

namespace {

QueueStats toStats(std::string_view endpoint, const Counts& c) {
  return {std::string(endpoint), static_cast<std::uint64_t>(c[kReady]),
          static_cast<std::uint64_t>(c[kLeased]), static_cast<std::uint64_t>(c[kDelayed]),
          static_cast<std::uint64_t>(c[kErrors])};
}

}  // namespace

BusStore::BusStore(std::filesystem::path dir, BusOptions options) {
  if (options.owner == 0) options.owner = static_cast<std::uint64_t>(::getpid());
  impl_ = std::make_unique<Impl>(std::move(dir), options);
  Impl& s = *impl_;
  s.env.write([&](Txn& txn) {
    std::optional<MDB_dbi> meta = s.env.openDb(txn, "meta", false);
    const bool fresh = !meta;
    if (fresh) {
      MDB_dbi mainDb = 0;
      txn.check(mdb_dbi_open(txn.raw(), nullptr, 0, &mainDb), "mdb_dbi_open(main)");
      if (txn.entries(mainDb) != 0) {
        fail(ErrorKind::kPermanent,
             s.env.file().string() + " is an LMDB file but not an idem bus (no meta)");
      }
      s.meta = *s.env.openDb(txn, "meta", true);
      if (!txn.put(s.meta, asBytes("format"), asBytes(kFormat), MDB_NOOVERWRITE) ||
          !txn.put(s.meta, asBytes("next-seq"), asBytes(be64(1)), MDB_NOOVERWRITE)) {
        fail(ErrorKind::kBug, s.env.file().string() + ": bus meta written twice while creating");
      }
    } else {
      s.meta = *meta;
      auto format = txn.get(s.meta, asBytes("format"));
      if (!format || asChars(*format) != kFormat) {
        fail(ErrorKind::kPermanent, s.env.file().string() + " is not an idem bus of format " +
                                        std::string(kFormat) + " (its format is '" +
                                        (format ? std::string(asChars(*format)) : "") + "')");
      }
    }
    auto open = [&](const char* name) {
      std::optional<MDB_dbi> dbi = s.env.openDb(txn, name, fresh);
      if (!dbi) s.damaged(std::string("database '") + name + "' is missing");
      return *dbi;
    };
    s.messages = open("messages");
    s.ready = open("ready");
    s.leased = open("leased");
    s.delayed = open("delayed");
    s.errors = open("errors");
    s.subs = open("subs");
    s.counts = open("counts");
  });
}

BusStore::~BusStore() = default;

const std::filesystem::path& BusStore::directory() const { return impl_->env.directory(); }

void BusStore::subscribe(std::string_view endpoint, std::uint64_t messageType) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  std::string key = be64(messageType);
  key.append(endpoint);
  s.env.write([&](Txn& txn) {
    (void)txn.put(s.subs, asBytes(key), {}, MDB_NOOVERWRITE);
    (void)txn.put(s.counts, asBytes(endpoint), asBytes(std::string(8 * kColumns, '\0')),
                  MDB_NOOVERWRITE);
  });
}

std::vector<std::string> BusStore::subscribers(std::uint64_t messageType) const {
  std::vector<std::string> out;
  const std::string prefix = be64(messageType);
  impl_->env.read([&](Txn& txn) {
    out.clear();
    for (const std::string& key : Impl::keysWithPrefix(txn, impl_->subs, prefix, SIZE_MAX)) {
      out.push_back(key.substr(8));
    }
  });
  return out;
}

std::vector<Delivery> BusStore::lease(std::string_view endpoint, std::size_t maxCount,
                                      std::int64_t nowNs) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  std::vector<Delivery> out;
  s.env.write([&](Txn& txn) {
    out.clear();
    Impl::Writer w(s, txn);
    w.promoteDue(nowNs);
    w.reclaimExpired(endpoint, nowNs);
    const std::string prefix = prefixOf(endpoint);
    std::string leaseValue = be64(static_cast<std::uint64_t>(nowNs + s.options.leaseNs));
    appendBe(leaseValue, s.options.owner, 8);
    for (const std::string& key : Impl::keysWithPrefix(txn, s.ready, prefix, maxCount)) {
      const std::uint64_t seq = readBe(asBytes(key).data() + prefix.size(), 8);
      StoredMessage m = s.readMessage(txn, seq);
      txn.del(s.ready, asBytes(key));
      (void)txn.put(s.leased, asBytes(key), asBytes(leaseValue));
      out.push_back(Delivery{std::move(m.envelope), seq, m.attempt});
    }
    w.add(endpoint, kReady, -static_cast<std::int64_t>(out.size()));
    w.add(endpoint, kLeased, static_cast<std::int64_t>(out.size()));
    w.finish();
  });
  return out;
}

void BusStore::publish(std::span<const Outbound> messages, std::int64_t nowNs) {
  for (const Outbound& m : messages) {
    if (!m.destination.empty()) checkEndpoint(m.destination);
  }
  Impl& s = *impl_;
  s.env.write([&](Txn& txn) {
    Impl::Writer w(s, txn);
    std::map<std::uint64_t, std::vector<std::string>> subscribersOf;
    for (const Outbound& m : messages) {
      const std::int64_t due = toNs(m.deliverAt);
      std::optional<std::int64_t> delay;  // (assigned apart: GCC 12 -O2 misreads the ternary)
      if (due > nowNs) delay.emplace(due);
      if (!m.destination.empty()) {
        w.enqueue(m.destination, 1, m.envelope, delay);
        continue;
      }
      auto it = subscribersOf.find(m.messageType);
      if (it == subscribersOf.end()) {
        std::vector<std::string> names;
        for (const std::string& key :
             Impl::keysWithPrefix(txn, s.subs, be64(m.messageType), SIZE_MAX)) {
          names.push_back(key.substr(8));
        }
        it = subscribersOf.emplace(m.messageType, std::move(names)).first;
      }
      for (const std::string& endpoint : it->second) w.enqueue(endpoint, 1, m.envelope, delay);
    }
    w.checkDepth(s.options.maxDepth);
    w.finish();
  });
}

std::size_t BusStore::ack(std::string_view endpoint, std::span<const std::uint64_t> tags) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  std::size_t acked = 0;
  s.env.write([&](Txn& txn) {
    acked = 0;
    Impl::Writer w(s, txn);
    for (std::uint64_t tag : tags) acked += w.takeLease(endpoint, tag).has_value();
    w.finish();
  });
  return acked;
}

bool BusStore::retryLater(std::string_view endpoint, std::uint64_t tag, std::int64_t dueNs) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  bool found = false;
  s.env.write([&](Txn& txn) {
    Impl::Writer w(s, txn);
    std::optional<StoredMessage> m = w.takeLease(endpoint, tag);
    found = m.has_value();
    if (!found) return;
    w.enqueue(endpoint, m->attempt + 1, m->envelope, dueNs);
    w.finish();
  });
  return found;
}

bool BusStore::deadLetter(std::string_view endpoint, std::uint64_t tag, const ErrorReport& report) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  bool found = false;
  s.env.write([&](Txn& txn) {
    Impl::Writer w(s, txn);
    std::optional<StoredMessage> m = w.takeLease(endpoint, tag);
    found = m.has_value();
    if (!found) return;
    std::string value;
    appendBe(value, report.attempts, 4);
    appendBe(value, report.reason.size(), 4);
    appendBe(value, report.detail.size(), 4);
    appendBe(value, 0, 4);
    appendBe(value, static_cast<std::uint64_t>(std::max<std::int64_t>(toNs(report.failedAt), 0)),
             8);
    value.append(report.reason).append(report.detail).append(asChars(m->envelope));
    (void)txn.put(s.errors, asBytes(endpointKey(endpoint, tag)), asBytes(value));
    w.add(endpoint, kErrors, 1);
    w.finish();
  });
  return found;
}

QueueStats BusStore::stats(std::string_view endpoint) const {
  checkEndpoint(endpoint);
  QueueStats out;
  impl_->env.read([&](Txn& txn) { out = toStats(endpoint, impl_->readCounts(txn, endpoint)); });
  return out;
}

std::vector<QueueStats> BusStore::allStats() const {
  std::vector<QueueStats> out;
  impl_->env.read([&](Txn& txn) {
    out.clear();
    for (const std::string& endpoint : Impl::keysWithPrefix(txn, impl_->counts, "", SIZE_MAX)) {
      out.push_back(toStats(endpoint, impl_->readCounts(txn, endpoint)));
    }
  });
  return out;
}

std::vector<ErrorEntry> BusStore::errors(std::string_view endpoint, std::size_t limit) const {
  checkEndpoint(endpoint);
  std::vector<ErrorEntry> out;
  const std::string prefix = prefixOf(endpoint);
  impl_->env.read([&](Txn& txn) {
    out.clear();
    Cursor cursor(txn, impl_->errors);
    for (bool ok = cursor.move(MDB_SET_RANGE, asBytes(prefix));
         ok && out.size() < limit && startsWith(cursor.key(), prefix); ok = cursor.move(MDB_NEXT)) {
      out.push_back(impl_->readError(cursor.key(), cursor.value()));
    }
  });
  return out;
}

std::size_t BusStore::retryErrors(std::string_view endpoint, std::optional<std::uint64_t> id) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  std::size_t moved = 0;
  s.env.write([&](Txn& txn) {
    moved = 0;
    Impl::Writer w(s, txn);
    const std::vector<std::string> keys =
        id ? std::vector<std::string>{endpointKey(endpoint, *id)}
           : Impl::keysWithPrefix(txn, s.errors, prefixOf(endpoint), SIZE_MAX);
    for (const std::string& key : keys) {
      auto value = txn.get(s.errors, asBytes(key));
      if (!value) continue;
      const ErrorEntry e = s.readError(asBytes(key), *value);
      txn.del(s.errors, asBytes(key));
      w.add(endpoint, kErrors, -1);
      w.enqueue(endpoint, 1, e.envelope, std::nullopt);
      ++moved;
    }
    w.finish();
  });
  return moved;
}

std::size_t BusStore::purgeErrors(std::string_view endpoint, std::optional<std::uint64_t> id) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  std::size_t purged = 0;
  s.env.write([&](Txn& txn) {
    purged = 0;
    Impl::Writer w(s, txn);
    const std::vector<std::string> keys =
        id ? std::vector<std::string>{endpointKey(endpoint, *id)}
           : Impl::keysWithPrefix(txn, s.errors, prefixOf(endpoint), SIZE_MAX);
    for (const std::string& key : keys) {
      if (!txn.del(s.errors, asBytes(key))) continue;
      w.add(endpoint, kErrors, -1);
      ++purged;
    }
    w.finish();
  });
  return purged;
}

}  // namespace idem::store
