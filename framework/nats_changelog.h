// Changelog: the committed versions of one partition of an endpoint, in commit order, on a
// JetStream stream, written only by the partition's owner of the newest epoch (the ownership is
// framework/nats_ownership.h; the protocol is docs/nats.md, "Ownership and fencing").
//
//   stream   IDEM_CL_E        subjects idem.cl.E.>; limits retention (nothing expires), file
//                             storage, R replicas
//   subject  idem.cl.E.p<N>   partition N's changelog (P = 1: p0)
//   message  headers  Idem-Epoch   the writer's epoch, decimal
//                     Idem-Member  the writer's member id
//                     Idem-Kind    "claim" (no body: an owner of this epoch starts here) or
//                                  "records"
//                     Nats-Expected-Last-Subject-Sequence  the stream sequence of the subject's
//                                  last message as the writer knows it (0: the subject is empty);
//                                  the server refuses the message (error 10071) otherwise
//            body of "records":  entry*, one per committed version, in commit order
//   entry   := typeBytes:u32 keyBytes:u32 recordBytes:u32 flags:u32 input:16*u8 seq:u64
//              type key pad record                             (little-endian; 40-byte header)
//   pad     := zero bytes to the next multiple of 8 from the entry's start
//   record  := the version's log record (store/log_record.h), with its state whenever the
//              version changed the state
//   flags   := bit 0: the state is there for the restorer only (the writer's log record does not
//              keep it: snapshotEvery > 1); other bits zero
//   seq     := the record's sequence number in the writer's store (informative)
//
// Fencing: every write carries the expected last subject sequence, and a claim is written only
// after a message of an epoch not newer than the claimer's. So the subject's epochs never go
// down, and once an owner's claim is on the subject, every write of an older owner (which
// expects a sequence before the claim) is refused by the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "framework/nats_client.h"
#include "idem/endpoint.h"

namespace idem::detail::nats {

std::string changelogStream(std::string_view endpoint);
std::string changelogSubjects(std::string_view endpoint);
std::string changelogSubject(std::string_view endpoint, std::uint32_t partition);

inline constexpr const char* kEpochHeader = "Idem-Epoch";
inline constexpr const char* kMemberHeader = "Idem-Member";
inline constexpr const char* kKindHeader = "Idem-Kind";
inline constexpr const char* kExpectedLastSubjectSeqHeader = "Nats-Expected-Last-Subject-Sequence";

// Creates the changelog stream of `endpoint` with `replicas` unless it exists. Throws idem::Error.
void ensureChangelogStream(jsCtx* js, std::string_view endpoint, int replicas);

// The last message on a changelog subject: its stream sequence (0: the subject is empty) and the
// epoch it was written under (0 when empty).
struct ChangelogTail {
  std::uint64_t sequence = 0;
  std::uint64_t epoch = 0;
};
// Throws idem::Error (transient when NATS does not answer).
ChangelogTail readTail(jsCtx* js, std::string_view endpoint, std::uint32_t partition);

// The writer of one partition's changelog for one epoch. Thread safety: claim() once, then
// append() from the endpoint's thread; stopped() from any thread.
class ChangelogWriter {
 public:
  // `js` must outlive the writer. `maxPayload` bounds one message (headers + body).
  ChangelogWriter(jsCtx* js, std::string endpoint, std::uint32_t partition, std::uint64_t epoch,
                  std::string member, std::int64_t maxPayload);

  // Writes this epoch's claim after the subject's last message, re-reading the tail when another
  // writer got in first. Returns the claim's stream sequence: the changelog's content before it
  // is the partition's state. Throws idem::Error kPermanent when the subject holds a message of
  // a newer epoch (this owner is fenced already), transient when NATS does not answer.
  std::uint64_t claim();

  // The CommitSink (idem/endpoint.h): appends one "records" message per ~maxPayload of records,
  // each expecting the previous one. Any failure stops this writer for good (stopped() turns
  // true) and throws idem::Error kPermanent, so the endpoint stops serving the partition: a
  // refusal (10071) means a newer owner claimed it, and after a timeout whether the message
  // landed is unknown; either way the local store may hold a version the changelog lacks and is
  // discarded (the partition is served again only after a new claim and a restore).
  void append(const store::VersionStore& store, std::span<const CommittedRecord> records);

  bool stopped() const noexcept { return stopped_.load(); }
  std::uint64_t epoch() const noexcept { return epoch_; }
  std::uint64_t lastSequence() const noexcept { return last_; }

 private:
  // Publishes with the expectation `last_`; returns the new message's sequence. Sets stopped_
  // and throws on any failure.
  std::uint64_t publish(const char* kind, std::span<const std::byte> body);

  jsCtx* js_;
  std::string endpoint_;
  std::uint32_t partition_;
  std::uint64_t epoch_;
  std::string member_;
  std::string subject_;
  std::int64_t maxPayload_;
  std::uint64_t last_ = 0;
  std::atomic<bool> stopped_{false};
};

struct RestoreCounts {
  std::uint64_t messages = 0;  // records messages applied
  std::uint64_t records = 0;   // versions appended to the store
  std::uint64_t bytes = 0;     // of the records messages' bodies
};

// Appends every version the partition's changelog holds before stream sequence `through` (a
// claim) to `store`, which must be empty (a new owner's: docs/nats.md). Restored versions are in
// the store's publication set (their outputs' confirmation is not in the changelog), so their
// duplicates re-emit and the owed sweep re-emits them: receivers drop the copies. Throws
// idem::Error: transient when NATS does not answer, kPermanent for a damaged message or a gap.
// `js` must be a context of `connection`.
RestoreCounts restoreFromChangelog(natsConnection* connection, jsCtx* js, std::string_view endpoint,
                                   std::uint32_t partition, std::uint64_t through,
                                   store::VersionStore& store);

}  // namespace idem::detail::nats
