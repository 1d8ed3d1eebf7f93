// Changelog: fenced appends of committed log records, and the restore of a partition's store.
#include "framework/nats_changelog.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <optional>
#include <vector>

#include "framework/nats_layout.h"
#include "store/little_endian.h"
#include "store/log_record.h"
#include "store/version_store.h"

namespace idem::detail::nats {

namespace {

constexpr std::size_t kEntryHeaderBytes = 40;
constexpr std::uint32_t kStateForRestorerOnly = 1;
// Room left in a message for its headers (the three Idem- headers and the expectation).
constexpr std::int64_t kHeaderRoom = 512;

std::size_t padded(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

std::uint64_t epochOf(natsMsg* msg) {
  const auto epoch = headerNumber(msg, kEpochHeader);
  return epoch && *epoch > 0 ? static_cast<std::uint64_t>(*epoch) : 0;
}

// One committed version, encoded as a changelog entry.
void encodeEntry(std::vector<std::byte>& out, const store::VersionStore& versions, store::Txn& txn,
                 const CommittedRecord& committed) {
  const auto record = versions.findRecord(txn, committed.seq);
  const auto name = record ? versions.findEntityName(txn, record->entity) : std::nullopt;
  if (!record || !name) {
    fail(ErrorKind::kBug, "changelog: log record " + std::to_string(committed.seq) +
                              " the batch committed is not in the store");
  }
  std::optional<std::span<const std::byte>> state = record->state;
  std::uint32_t flags = 0;
  if (record->entry.stateChanged && !state) {
    // Not kept inline (snapshotEvery > 1): the restorer needs it all the same. Only the head's
    // state is at hand without a fold.
    const auto head = versions.findHead(txn, record->entity);
    if (!head || head->version != record->version) {
      fail(ErrorKind::kBug,
           "changelog: the state of " + name->entityType + "/" + name->key + " version " +
               std::to_string(record->version) +
               " is not stored (snapshotEvery > 1 with several versions of one entity in a "
               "batch); the NATS changelog needs snapshotEvery = 1 there");
    }
    state = head->state;
    flags |= kStateForRestorerOnly;
  }
  const std::size_t recordBytes = store::logRecordBytes(record->entry, state);
  const std::size_t textBytes = name->entityType.size() + name->key.size();
  const std::size_t begin = out.size();
  out.resize(begin + kEntryHeaderBytes + padded(textBytes) + recordBytes);
  std::byte* p = out.data() + begin;
  store::putLe<std::uint32_t>(p, static_cast<std::uint32_t>(name->entityType.size()));
  store::putLe<std::uint32_t>(p + 4, static_cast<std::uint32_t>(name->key.size()));
  store::putLe<std::uint32_t>(p + 8, static_cast<std::uint32_t>(recordBytes));
  store::putLe<std::uint32_t>(p + 12, flags);
  std::memcpy(p + 16, committed.input.bytes.data(), MessageId::kSize);
  store::putLe<std::uint64_t>(p + 32, committed.seq);
  std::memcpy(p + kEntryHeaderBytes, name->entityType.data(), name->entityType.size());
  std::memcpy(p + kEntryHeaderBytes + name->entityType.size(), name->key.data(), name->key.size());
  const store::LogRecordPlace place{record->entity, record->version, record->prevSeq};
  store::encodeLogRecord(std::span(p + kEntryHeaderBytes + padded(textBytes), recordBytes), place,
                         record->entry, state);
}

struct Entry {
  std::string_view entityType;
  std::string_view key;
  MessageId input;
  std::uint32_t flags = 0;
  std::uint64_t seq = 0;  // in the writer's store
  std::span<const std::byte> record;
};

// The entries of a records message body; throws kPermanent naming `what` when it is damaged.
std::vector<Entry> parseEntries(std::span<const std::byte> body, const std::string& what) {
  std::vector<Entry> out;
  std::size_t at = 0;
  while (at < body.size()) {
    if (body.size() - at < kEntryHeaderBytes) fail(ErrorKind::kPermanent, what + ": truncated");
    const std::byte* p = body.data() + at;
    Entry e;
    const auto typeBytes = store::getLe<std::uint32_t>(p);
    const auto keyBytes = store::getLe<std::uint32_t>(p + 4);
    const auto recordBytes = store::getLe<std::uint32_t>(p + 8);
    e.flags = store::getLe<std::uint32_t>(p + 12);
    std::memcpy(e.input.bytes.data(), p + 16, MessageId::kSize);
    e.seq = store::getLe<std::uint64_t>(p + 32);
    const std::size_t textBytes = padded(std::size_t{typeBytes} + keyBytes);
    if (body.size() - at - kEntryHeaderBytes < textBytes + recordBytes ||
        (e.flags & ~kStateForRestorerOnly) != 0) {
      fail(ErrorKind::kPermanent, what + ": an entry's lengths or flags are wrong");
    }
    const char* text = reinterpret_cast<const char*>(p + kEntryHeaderBytes);
    e.entityType = std::string_view(text, typeBytes);
    e.key = std::string_view(text + typeBytes, keyBytes);
    e.record = std::span(p + kEntryHeaderBytes + textBytes, recordBytes);
    out.push_back(e);
    at += kEntryHeaderBytes + textBytes + recordBytes;
  }
  return out;
}

void applyEntry(store::VersionStore& versions, store::Txn& txn, const Entry& e,
                const std::string& what, RestoreCounts& counts) {
  // decodeLogRecord reads in place and wants 8-byte alignment: copy into words.
  std::vector<std::uint64_t> words((e.record.size() + 7) / 8);
  std::memcpy(words.data(), e.record.data(), e.record.size());
  const auto aligned = std::span(reinterpret_cast<const std::byte*>(words.data()), e.record.size());
  const store::LogRecord record = store::decodeLogRecord(aligned, e.seq, what);
  auto entity = versions.findEntity(txn, e.entityType, e.key);
  const std::uint64_t head = entity ? versions.headVersion(txn, *entity) : 0;
  if (record.version <= head) return;  // already restored (a repeated entry)
  if (record.version != head + 1) {
    fail(ErrorKind::kPermanent, what + ": " + std::string(e.entityType) + "/" + std::string(e.key) +
                                    " jumps from version " + std::to_string(head) + " to " +
                                    std::to_string(record.version));
  }
  if (!entity) entity = versions.createEntity(txn, e.entityType, e.key);
  std::optional<std::span<const std::byte>> state;
  if (record.entry.stateChanged) state = record.state;
  const bool stateInLog = record.state && (e.flags & kStateForRestorerOnly) == 0;
  versions.append(txn, *entity, record.version, e.input, record.entry, state, stateInLog);
  ++counts.records;
}

}  // namespace

std::string changelogStream(std::string_view endpoint) {
  return "IDEM_CL_" + std::string(endpoint);
}
std::string changelogSubjects(std::string_view endpoint) {
  return "idem.cl." + std::string(endpoint) + ".>";
}
std::string changelogSubject(std::string_view endpoint, std::uint32_t partition) {
  return "idem.cl." + std::string(endpoint) + ".p" + std::to_string(partition);
}

void ensureChangelogStream(jsCtx* js, std::string_view endpoint, int replicas) {
  requireEndpointName(endpoint);
  const std::string name = changelogStream(endpoint);
  const std::string subjects = changelogSubjects(endpoint);
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&raw, js, name.c_str(), nullptr, &jerr);
  StreamInfoPtr info(raw);
  if (s == NATS_OK) return;
  if (s != NATS_NOT_FOUND) check(s, "reading the changelog stream " + name, jerr);
  jsStreamConfig config;
  check(jsStreamConfig_Init(&config), "stream options");
  config.Name = name.c_str();
  const char* subjectList[] = {subjects.c_str()};
  config.Subjects = subjectList;
  config.SubjectsLen = 1;
  config.Retention = js_LimitsPolicy;
  config.Storage = js_FileStorage;
  config.Replicas = replicas;
  raw = nullptr;
  jerr = static_cast<jsErrCode>(0);
  s = js_AddStream(&raw, js, &config, nullptr, &jerr);
  info.reset(raw);
  if (s == NATS_OK) return;
  raw = nullptr;  // another process created it meanwhile
  if (js_GetStreamInfo(&raw, js, name.c_str(), nullptr, nullptr) == NATS_OK) {
    info.reset(raw);
    return;
  }
  check(s, "creating the changelog stream " + name, jerr);
}

ChangelogTail readTail(jsCtx* js, std::string_view endpoint, std::uint32_t partition) {
  const std::string stream = changelogStream(endpoint);
  const std::string subject = changelogSubject(endpoint, partition);
  natsMsg* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetLastMsg(&raw, js, stream.c_str(), subject.c_str(), nullptr, &jerr);
  MsgPtr msg(raw);
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) return {};
  check(s, "reading the last message of " + subject, jerr);
  return {natsMsg_GetSequence(msg.get()), epochOf(msg.get())};
}

ChangelogWriter::ChangelogWriter(jsCtx* js, std::string endpoint, std::uint32_t partition,
                                 std::uint64_t epoch, std::string member, std::int64_t maxPayload)
    : js_(js),
      endpoint_(std::move(endpoint)),
      partition_(partition),
      epoch_(epoch),
      member_(std::move(member)),
      subject_(changelogSubject(endpoint_, partition_)),
      maxPayload_(maxPayload > kHeaderRoom * 2 ? maxPayload : std::int64_t{1} << 20) {}

std::uint64_t ChangelogWriter::claim() {
  for (int attempt = 0;; ++attempt) {
    const ChangelogTail tail = readTail(js_, endpoint_, partition_);
    if (tail.epoch > epoch_) {
      stopped_ = true;
      fail(ErrorKind::kPermanent, "fenced: " + subject_ + " holds epoch " +
                                      std::to_string(tail.epoch) + ", newer than this owner's " +
                                      std::to_string(epoch_));
    }
    last_ = tail.sequence;
    try {
      return publish("claim", {});
    } catch (const Error&) {
      // An older owner's last append got in between: read the tail again (bounded: each retry
      // means a message landed, and older owners stop at their first refusal).
      if (attempt >= 20) throw;
      stopped_ = false;
    }
  }
}

std::uint64_t ChangelogWriter::publish(const char* kind, std::span<const std::byte> body) {
  natsMsg* raw = nullptr;
  natsStatus s =
      natsMsg_Create(&raw, subject_.c_str(), nullptr, reinterpret_cast<const char*>(body.data()),
                     static_cast<int>(body.size()));
  MsgPtr msg(raw);
  const std::string epoch = std::to_string(epoch_);
  const std::string expected = std::to_string(last_);
  if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), kEpochHeader, epoch.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), kMemberHeader, member_.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), kKindHeader, kind);
  // Set by hand rather than with jsPubOptions.ExpectLastSubjectSeq, which nats.c leaves out
  // when 0: "the subject is empty" must be an expectation too.
  if (s == NATS_OK)
    s = natsMsgHeader_Set(msg.get(), kExpectedLastSubjectSeqHeader, expected.c_str());
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (s == NATS_OK) s = js_PublishMsg(&ack, js_, msg.get(), nullptr, &jerr);
  if (s != NATS_OK) {
    stopped_ = true;
    const std::string why =
        jerr == JSStreamWrongLastSequenceErr
            ? "fenced: a newer owner claimed " + subject_ + " (its last sequence is not " +
                  expected + ")"
            : std::string("the changelog append to ") + subject_ +
                  " failed, so whether it landed is unknown: " + natsStatus_GetText(s) +
                  " (JetStream error " + std::to_string(jerr) + ")";
    fail(ErrorKind::kPermanent, "partition " + std::to_string(partition_) + " of " + endpoint_ +
                                    " (epoch " + epoch + ") stops: " + why);
  }
  const std::uint64_t sequence = ack->Sequence;
  jsPubAck_Destroy(ack);
  last_ = sequence;
  return sequence;
}

void ChangelogWriter::append(const store::VersionStore& store,
                             std::span<const CommittedRecord> records) {
  if (stopped_) {
    fail(ErrorKind::kPermanent, "partition " + std::to_string(partition_) + " of " + endpoint_ +
                                    ": the changelog writer of epoch " + std::to_string(epoch_) +
                                    " is stopped");
  }
  if (records.empty()) return;
  const std::size_t limit = static_cast<std::size_t>(maxPayload_ - kHeaderRoom);
  std::vector<std::vector<std::byte>> bodies(1);
  store.read([&](store::Txn& txn) {
    for (const CommittedRecord& committed : records) {
      std::vector<std::byte> entry;
      encodeEntry(entry, store, txn, committed);
      if (entry.size() > limit) {
        stopped_ = true;
        fail(ErrorKind::kPermanent,
             "a log record of " + endpoint_ + " partition " + std::to_string(partition_) + " is " +
                 std::to_string(entry.size()) + " bytes, over what one changelog message takes (" +
                 std::to_string(limit) + ")");
      }
      if (bodies.back().size() + entry.size() > limit) bodies.emplace_back();
      bodies.back().insert(bodies.back().end(), entry.begin(), entry.end());
    }
  });
  for (const auto& body : bodies) publish("records", body);
}

RestoreCounts restoreFromChangelog(natsConnection* connection, jsCtx* js, std::string_view endpoint,
                                   std::uint32_t partition, std::uint64_t through,
                                   store::VersionStore& store) {
  RestoreCounts counts;
  if (through <= 1) return counts;
  const std::string subject = changelogSubject(endpoint, partition);
  jsSubOptions so;
  check(jsSubOptions_Init(&so), "subscription options");
  so.Ordered = true;
  so.Stream = nullptr;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* rawSub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  check(js_SubscribeSync(&rawSub, js, subject.c_str(), nullptr, &so, &jerr),
        "reading the changelog " + subject, jerr);
  // Unsubscribed, and the connection flushed, before it is destroyed: nats.c before 3.6 can crash
  // its read loop when a subscription is destroyed while a message for it (the ordered
  // consumer's heartbeat) arrives (nats-io/nats.c#637). After the flush's PONG the read loop has
  // handled everything the server sent before the UNSUB.
  const auto quiesce = [connection](natsSubscription* s) noexcept {
    if (natsSubscription_Unsubscribe(s) == NATS_OK)
      (void)natsConnection_FlushTimeout(connection, 5'000);
    natsSubscription_Destroy(s);
  };
  std::unique_ptr<natsSubscription, decltype(quiesce)> sub(rawSub, quiesce);
  // Applied in write transactions of up to kPerTxn messages (one fsync each).
  constexpr std::size_t kPerTxn = 256;
  bool done = false;
  while (!done) {
    std::vector<std::pair<std::uint64_t, MsgPtr>> messages;  // stream sequence, message
    while (messages.size() < kPerTxn) {
      natsMsg* raw = nullptr;
      // Messages before the claim exist, so a long silence is a lost server, not the end.
      check(natsSubscription_NextMsg(&raw, sub.get(), 10'000), "reading the changelog " + subject);
      MsgPtr msg(raw);
      jsMsgMetaData* rawMeta = nullptr;
      check(natsMsg_GetMetaData(&rawMeta, msg.get()), "changelog message metadata");
      MetaDataPtr meta(rawMeta);
      const std::uint64_t sequence = meta->Sequence.Stream;
      if (sequence >= through) {
        done = true;
        break;
      }
      if (headerText(msg.get(), kKindHeader) == "records") {
        messages.emplace_back(sequence, std::move(msg));
      }
      if (sequence + 1 >= through) {
        done = true;
        break;
      }
    }
    if (messages.empty()) continue;
    RestoreCounts batch;
    store.write([&](store::Txn& txn) {
      batch = {};  // the body may run again (map growth)
      for (const auto& [sequence, msg] : messages) {
        const auto* data = reinterpret_cast<const std::byte*>(natsMsg_GetData(msg.get()));
        const auto body =
            std::span(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())));
        const std::string what = "changelog " + subject + " message " + std::to_string(sequence);
        for (const Entry& e : parseEntries(body, what)) applyEntry(store, txn, e, what, batch);
        ++batch.messages;
        batch.bytes += body.size();
      }
    });
    counts.records += batch.records;
    counts.messages += batch.messages;
    counts.bytes += batch.bytes;
  }
  return counts;
}

}  // namespace idem::detail::nats
