// BusStore: the embedded transport's durable queues, each state change one write transaction.
// The keys and records it uses are specified in store/bus_layout.h and docs/storage-format.md.
#include "store/bus_store.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <string>

#include "idem/error.h"
#include "store/bus_layout.h"
#include "store/lmdb_env.h"

namespace idem::store {

using namespace bus;  // NOLINT(google-build-using-namespace): the layout is this file's vocabulary

namespace {
constexpr std::size_t kMaxPromotedPerCall = 4096;
constexpr std::int64_t kNoLease = INT64_MAX;  // a lease floor when no lease is held
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
    auto v = txn.get(counts, asBytes(endpoint));
    if (!v) return Counts{};
    auto c = decodeCounts(*v);
    if (!c) damaged("counts of '" + std::string(endpoint) + "'");
    return *c;
  }

  StoredMessage readMessage(Txn& txn, std::uint64_t seq) const {
    auto v = txn.get(messages, asBytes(be64(seq)));
    if (!v) damaged("message " + std::to_string(seq) + " is indexed but missing");
    auto m = decodeMessage(*v);
    if (!m) damaged("message " + std::to_string(seq) + " is too short");
    return std::move(*m);
  }

  ErrorEntry readError(Bytes key, Bytes value) const {
    auto e = decodeError(key, value);
    if (!e) damaged("error record of '" + std::string(chars(key.first(key.size() - 8))) + "'");
    return std::move(*e);
  }

  // meta "lease-floor" 0x00 endpoint: no lease of `endpoint` expires before it. Absent (a bus
  // written before the floor existed, or never leased): none when the endpoint holds no lease,
  // else 0, so that the next lease call scans once and records it.
  static std::string floorKey(std::string_view endpoint) {
    std::string key = "lease-floor";
    key.push_back('\0');
    key.append(endpoint);
    return key;
  }
  std::int64_t leaseFloor(Txn& txn, std::string_view endpoint) const {
    auto v = txn.get(meta, asBytes(floorKey(endpoint)));
    if (!v) return readCounts(txn, endpoint)[kLeased] == 0 ? kNoLease : 0;
    if (v->size() != 8) damaged("lease floor of '" + std::string(endpoint) + "'");
    return static_cast<std::int64_t>(readBe(v->data(), 8));
  }
  void putLeaseFloor(Txn& txn, std::string_view endpoint, std::int64_t floor) const {
    (void)txn.put(meta, asBytes(floorKey(endpoint)),
                  asBytes(be64(static_cast<std::uint64_t>(floor))));
  }
  // The due time of the earliest delayed message of any endpoint (kNoLease: none).
  std::int64_t firstDelayed(Txn& txn) const {
    Cursor cursor(txn, delayed);
    if (!cursor.move(MDB_FIRST)) return kNoLease;
    if (cursor.key().size() != 16) damaged("delayed key of wrong size");
    return static_cast<std::int64_t>(readBe(cursor.key().data(), 8));
  }
  bool hasReady(Txn& txn, std::string_view endpoint) const {
    return !keysWithPrefix(txn, ready, prefixOf(endpoint), 1).empty();
  }
  // When `endpoint` may next find something to lease without a publish: the earliest of its
  // lease floor and the first delayed message. At or before `nowNs`: a lease call has work.
  std::int64_t nextDue(Txn& txn, std::string_view endpoint) const {
    return std::min(leaseFloor(txn, endpoint), firstDelayed(txn));
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
    const std::string value = encodeMessage(attempt, endpoint, envelope);
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

  // Deletes the lease `tag` of `endpoint` and its message without reading the message; false when
  // there is no such lease.
  bool dropLease(std::string_view endpoint, std::uint64_t tag) {
    const std::string key = endpointKey(endpoint, tag);
    if (!txn_.del(s_.leased, asBytes(key))) return false;
    if (!txn_.del(s_.messages, asBytes(be64(tag)))) {
      s_.damaged("message " + std::to_string(tag) + " is leased but missing");
    }
    add(endpoint, kLeased, -1);
    return true;
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
      const std::uint64_t seq = seqOf(asBytes(key));
      const std::string endpoint = s_.readMessage(txn_, seq).endpoint;
      txn_.del(s_.delayed, asBytes(key));
      (void)txn_.put(s_.ready, asBytes(endpointKey(endpoint, seq)), {});
      add(endpoint, kDelayed, -1);
      add(endpoint, kReady, 1);
    }
  }

  // Scans the leases of `endpoint` only when its lease floor (no lease expires before it) has
  // passed: in steady state once per lease timeout, not once per call. The scan returns the
  // expired ones to ready and records the exact floor of the leases that remain.
  void reclaimExpired(std::string_view endpoint, std::int64_t nowNs) {
    if (s_.leaseFloor(txn_, endpoint) > nowNs) return;
    const std::string prefix = prefixOf(endpoint);
    std::vector<std::uint64_t> expired;
    std::int64_t floor = kNoLease;
    {
      Cursor cursor(txn_, s_.leased);
      for (bool ok = cursor.move(MDB_SET_RANGE, asBytes(prefix));
           ok && startsWith(cursor.key(), prefix); ok = cursor.move(MDB_NEXT)) {
        const std::optional<std::int64_t> expiry = leaseExpiry(cursor.value());
        if (!expiry) s_.damaged("lease record of wrong size");
        if (*expiry <= nowNs) {
          expired.push_back(seqOf(cursor.key()));
        } else {
          floor = std::min(floor, *expiry);
        }
      }
    }
    for (std::uint64_t tag : expired) {
      std::optional<StoredMessage> m = takeLease(endpoint, tag);
      enqueue(endpoint, m->attempt + 1, m->envelope, std::nullopt);
    }
    s_.putLeaseFloor(txn_, endpoint, floor);
  }

  // Leases up to `maxCount` ready messages of `endpoint` until nowNs + leaseNs.
  std::vector<Delivery> leaseReady(std::string_view endpoint, std::size_t maxCount,
                                   std::int64_t nowNs) {
    std::vector<Delivery> out;
    if (maxCount == 0) return out;
    const std::string prefix = prefixOf(endpoint);
    const std::int64_t expiry = nowNs + s_.options.leaseNs;
    const std::string leaseValue = encodeLease(expiry, s_.options.owner);
    for (const std::string& key : Impl::keysWithPrefix(txn_, s_.ready, prefix, maxCount)) {
      const std::uint64_t seq = seqOf(asBytes(key));
      StoredMessage m = s_.readMessage(txn_, seq);
      txn_.del(s_.ready, asBytes(key));
      (void)txn_.put(s_.leased, asBytes(key), asBytes(leaseValue));
      out.push_back(Delivery{std::move(m.envelope), seq, m.attempt});
    }
    if (out.empty()) return out;
    // Leases taken later expire later, so the floor moves only when no lease was held.
    if (expiry < s_.leaseFloor(txn_, endpoint)) s_.putLeaseFloor(txn_, endpoint, expiry);
    add(endpoint, kReady, -static_cast<std::int64_t>(out.size()));
    add(endpoint, kLeased, static_cast<std::int64_t>(out.size()));
    return out;
  }

  // Due delayed messages (any endpoint) become ready, expired leases of `endpoint` return to
  // ready, then up to `maxCount` ready messages are leased; with when the next may fall due.
  Leased leaseBatch(std::string_view endpoint, std::size_t maxCount, std::int64_t nowNs) {
    promoteDue(nowNs);
    reclaimExpired(endpoint, nowNs);
    Leased out;
    out.deliveries = leaseReady(endpoint, maxCount, nowNs);
    out.nextDueNs = s_.nextDue(txn_, endpoint);
    return out;
  }

  // Routes and stores `messages` (see BusStore::publish); returns the endpoints given ready ones.
  std::set<std::string> route(std::span<const Outbound> messages, std::int64_t nowNs);

  // Refuses the transaction when one of `endpoints` (which gained messages) is now deeper than
  // `maxDepth`.
  void checkDepth(const std::set<std::string>& endpoints, std::uint64_t maxDepth) {
    for (const auto& [endpoint, delta] : deltas_) {
      if (delta[kReady] + delta[kDelayed] <= 0 || endpoints.count(endpoint) == 0) continue;
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
      for (std::size_t i = 0; i < kColumns; ++i) {
        c[i] += delta[i];
        if (c[i] < 0) s_.damaged("count of '" + endpoint + "' went negative");
      }
      (void)txn_.put(s_.counts, asBytes(endpoint), asBytes(encodeCounts(c)));
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
    (void)txn.put(s.counts, asBytes(endpoint), asBytes(encodeCounts(Counts{})), MDB_NOOVERWRITE);
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

BusStore::Leased BusStore::lease(std::string_view endpoint, std::size_t maxCount,
                                 std::int64_t nowNs) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  Leased out;
  // A read transaction first: an empty queue with nothing falling due costs no write (no writer
  // lock, no commit, no fsync).
  bool work = false;
  s.env.read([&](Txn& txn) {
    out.nextDueNs = s.nextDue(txn, endpoint);
    work = out.nextDueNs <= nowNs || (maxCount > 0 && s.hasReady(txn, endpoint));
  });
  if (!work) return out;
  s.env.write([&](Txn& txn) {
    Impl::Writer w(s, txn);
    out = w.leaseBatch(endpoint, maxCount, nowNs);
    w.finish();
  });
  return out;
}

std::set<std::string> BusStore::Impl::Writer::route(std::span<const Outbound> messages,
                                                    std::int64_t nowNs) {
  std::set<std::string> readied;
  std::map<std::uint64_t, std::vector<std::string>> subscribersOf;
  // Back-pressure applies to edge messages only: outputs of committed versions must always
  // be taken (Transport::publish), or two endpoints sending to each other would deadlock.
  std::set<std::string> limited;
  auto put = [&](const std::string& endpoint, const Outbound& m,
                 const std::optional<std::int64_t>& delay) {
    enqueue(endpoint, 1, m.envelope, delay);
    if (!m.committed) limited.insert(endpoint);
    readied.insert(endpoint);  // delayed too: its waiters re-read when the delay ends
  };
  for (const Outbound& m : messages) {
    const std::int64_t due = toNs(m.deliverAt);
    std::optional<std::int64_t> delay;  // (assigned apart: GCC 12 -O2 misreads the ternary)
    if (due > nowNs) delay.emplace(due);
    if (!m.destination.empty()) {
      put(m.destination, m, delay);
      continue;
    }
    auto it = subscribersOf.find(m.messageType);
    if (it == subscribersOf.end()) {
      std::vector<std::string> names;
      for (const std::string& key :
           Impl::keysWithPrefix(txn_, s_.subs, be64(m.messageType), SIZE_MAX)) {
        names.push_back(key.substr(8));
      }
      it = subscribersOf.emplace(m.messageType, std::move(names)).first;
    }
    for (const std::string& endpoint : it->second) put(endpoint, m, delay);
  }
  checkDepth(limited, s_.options.maxDepth);
  return readied;
}

std::set<std::string> BusStore::publish(std::span<const Outbound> messages, std::int64_t nowNs) {
  for (const Outbound& m : messages) {
    if (!m.destination.empty()) checkEndpoint(m.destination);
  }
  Impl& s = *impl_;
  std::set<std::string> readied;
  s.env.write([&](Txn& txn) {
    Impl::Writer w(s, txn);
    readied = w.route(messages, nowNs);
    w.finish();
  });
  return readied;
}

std::size_t BusStore::ack(std::string_view endpoint, std::span<const std::uint64_t> tags) {
  checkEndpoint(endpoint);
  Impl& s = *impl_;
  std::size_t acked = 0;
  s.env.write([&](Txn& txn) {
    acked = 0;
    Impl::Writer w(s, txn);
    for (std::uint64_t tag : tags) acked += w.dropLease(endpoint, tag);
    w.finish();
  });
  return acked;
}

BusStore::Settled BusStore::settle(std::string_view endpoint, std::span<const Outbound> outputs,
                                   std::span<const std::uint64_t> acks, std::size_t maxNext,
                                   std::int64_t nowNs) {
  checkEndpoint(endpoint);
  for (const Outbound& m : outputs) {
    if (!m.destination.empty()) checkEndpoint(m.destination);
  }
  Impl& s = *impl_;
  Settled out;
  s.env.write([&](Txn& txn) {
    out = Settled{};
    Impl::Writer w(s, txn);
    // 1. The outputs are stored, 2. the inputs that produced them deleted, 3. the next batch
    // leased: one commit, so that no crash leaves an input acked whose outputs are missing.
    out.readied = w.route(outputs, nowNs);
    for (std::uint64_t tag : acks) out.acked += w.dropLease(endpoint, tag);
    if (maxNext > 0) {
      out.next = w.leaseBatch(endpoint, maxNext, nowNs);
    } else {
      out.next.nextDueNs = s.nextDue(txn, endpoint);
    }
    w.finish();
  });
  return out;
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
    const std::string value = encodeError(report, m->envelope);
    (void)txn.put(s.errors, asBytes(endpointKey(endpoint, tag)), asBytes(value));
    w.add(endpoint, kErrors, 1);
    w.finish();
  });
  return found;
}

BusCommits BusStore::commits() const noexcept {
  const LmdbCounters c = impl_->env.counters();
  return {c.commits, c.syncs, c.pagesWritten};
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

namespace {
// Removes one error of `endpoint` (or all of them) in one write transaction, handing each to
// `then` (with the transaction's writer) before it goes. Returns how many were removed.
template <typename Impl, typename Then>
std::size_t removeErrors(Impl& s, std::string_view endpoint, std::optional<std::uint64_t> id,
                         Then then) {
  std::size_t removed = 0;
  s.env.write([&](Txn& txn) {
    removed = 0;
    typename Impl::Writer w(s, txn);
    const std::vector<std::string> keys =
        id ? std::vector<std::string>{endpointKey(endpoint, *id)}
           : Impl::keysWithPrefix(txn, s.errors, prefixOf(endpoint), SIZE_MAX);
    for (const std::string& key : keys) {
      auto value = txn.get(s.errors, asBytes(key));
      if (!value) continue;
      then(w, s.readError(asBytes(key), *value));
      txn.del(s.errors, asBytes(key));
      w.add(endpoint, kErrors, -1);
      ++removed;
    }
    w.finish();
  });
  return removed;
}
}  // namespace

std::size_t BusStore::retryErrors(std::string_view endpoint, std::optional<std::uint64_t> id) {
  checkEndpoint(endpoint);
  return removeErrors(*impl_, endpoint, id, [&](auto& writer, const ErrorEntry& e) {
    writer.enqueue(endpoint, 1, e.envelope, std::nullopt);  // back to ready, attempt 1
  });
}

std::size_t BusStore::purgeErrors(std::string_view endpoint, std::optional<std::uint64_t> id) {
  checkEndpoint(endpoint);
  return removeErrors(*impl_, endpoint, id, [](auto&, const ErrorEntry&) {});
}

}  // namespace idem::store
