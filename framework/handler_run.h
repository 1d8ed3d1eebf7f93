// HandlerRun: runs one registered handler on a state and an input with the facts recorded for
// it, returning the new state and the canonical outputs. Shared by first processing, duplicate
// replay and folding.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "framework/state_loader.h"
#include "handlers/invocation.h"
#include "idem/canonical.h"
#include "idem/envelope.capnp.h"
#include "idem/handlers.h"
#include "store/version_store.h"

namespace idem::detail {

struct RunResult {
  Words state;
  Emitted emitted;
};

// Everything besides the state that a run depends on.
struct RunInput {
  const RegisteredHandler* handler = nullptr;
  std::string_view endpoint;
  std::string_view entityKey;
  wire::Envelope::Reader envelope;
  // The payload's canonical words (checked by a CanonicalReader): each run reads them through a
  // RunReader of its own, so retries and verifyDeterminism's second run get a fresh limit.
  kj::ArrayPtr<const capnp::word> payload;
  std::int64_t recordedAtNs = 0;
};

// The input recorded in a history entry, decoded in place. `bytes` must outlive it. Throws
// idem::Error (permanent) when they are not a canonical envelope with a canonical payload.
class RecordedInput {
 public:
  explicit RecordedInput(std::span<const std::byte> bytes);
  wire::Envelope::Reader envelope() { return envelope_.root<wire::Envelope>(); }
  kj::ArrayPtr<const capnp::word> payloadWords() const { return payload_->words(); }

 private:
  CanonicalReader envelope_;
  std::optional<CanonicalReader> payload_;
};

// Throws whatever the handler throws.
RunResult runHandler(const RunInput& input, kj::ArrayPtr<const capnp::word> state);

// A committed version set up to run again exactly as it first ran (a duplicate, a re-emission):
// `handler` on the state before it, with the input and time it recorded. Views into `txn` and
// `entry`, which must outlive it. Throws what StateLoader::load and RecordedInput throw.
class RecordedRun {
 public:
  RecordedRun(const StateLoader& loader, store::Txn& txn, const store::Applied& applied,
              const store::HistoryEntry& entry, const RegisteredHandler& handler,
              std::string_view endpoint, std::string_view entityKey);
  RecordedRun(const RecordedRun&) = delete;
  RecordedRun& operator=(const RecordedRun&) = delete;

  const RunInput& input() const { return input_; }
  kj::ArrayPtr<const capnp::word> stateBefore() const { return before_.words(); }

 private:
  LoadedState before_;
  RecordedInput recorded_;
  RunInput input_;
};

// Re-runs version `version` of `entity` as recorded in `entry`: its recorded input, time and
// handler id+version, on `state`. Throws idem::Error (permanent) naming the entity and version
// when that handler is no longer registered or the recorded bytes are unreadable; handler
// exceptions propagate.
RunResult rerunRecorded(const Handlers& handlers, const store::HistoryEntry& entry,
                        const store::EntityName& entity, std::uint64_t version,
                        kj::ArrayPtr<const capnp::word> state);

}  // namespace idem::detail
