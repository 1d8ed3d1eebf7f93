// idem::testing: runs an application's handlers in memory, without a store, a transport or a
// process: a state and an input in, the new state and the outputs out, as canonical bytes and as
// JSON. Each input goes through the pipeline's steps (DESIGN.md §2: look its id up, run, record
// a version, publish, ack), so that a test can show what a duplicate, or a crash at each step,
// makes of a handler. These steps are a model; idem's own suite checks the real pipeline.
//
//   idem::Handlers greeter("greeter");
//   hello::registerGreeter(greeter);
//   idem::testing::Harness h({&greeter});
//   auto ada = [](hello::Greet::Builder m) { m.setName("ada"); };
//   idem::testing::Run run = h.send<hello::Greet>("greeter", ada);
//   run.only<hello::Greeted>().as<hello::Greeted>().getVisit();  // 1
//   run.state.json();                                             // {"visits":1}
//   h.redeliver(run).duplicate;                                   // true: the same bytes again
//   h.checkCrashAtEachStep<hello::Greet>("greeter", ada);         // throws naming what differs
#pragma once

#include <capnp/any.h>
#include <capnp/schema.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "idem/canonical.h"
#include "idem/endpoint.h"
#include "idem/handlers.h"
#include "idem/message_id.h"
#include "idem/transport.h"

namespace idem::testing {

// The canonical bytes of one Cap'n Proto struct, and its schema when known. Copies share the
// bytes: a reader returned by as() stays valid while a copy of the Value (or the Harness it came
// from) lives. Comparing two Values compares their bytes.
class Value {
 public:
  Value() = default;  // holds nothing: as() and json() throw std::logic_error
  // Throws idem::Error (permanent) when `bytes` are not a canonical message of a struct.
  Value(Bytes bytes, std::optional<capnp::StructSchema> schema);

  const Bytes& bytes() const;
  const std::optional<capnp::StructSchema>& schema() const { return schema_; }

  // The struct as T. Throws std::logic_error when the Value holds nothing, or when its schema is
  // known and is not T's.
  template <typename T>
  typename T::Reader as() const {
    if (schema_ && schema_->getProto().getId() != capnp::typeId<T>()) {
      throw std::logic_error("this value is a " + displayName() + ", not the requested type");
    }
    return root().template as<T>();
  }
  // The struct as JSON (Cap'n Proto's JsonCodec, as `idem inspect` prints it). Throws
  // std::logic_error when the schema is unknown (see Harness::addSchema).
  std::string json() const;

  friend bool operator==(const Value& a, const Value& b) { return a.bytes() == b.bytes(); }

 private:
  struct Held;
  capnp::AnyStruct::Reader root() const;
  std::string displayName() const;

  std::shared_ptr<const Held> held_;
  std::optional<capnp::StructSchema> schema_;
};

// One message a run emitted, decoded from its canonical envelope.
struct Output {
  MessageId id;
  std::uint64_t messageType = 0;
  std::string destination;  // empty: published to the subscribers of its type
  std::string source;       // the endpoint that emitted it
  TimePoint deliverAt{};    // the epoch: at once; later for ctx.sendLater()
  Bytes envelope;           // the canonical envelope, as the pipeline publishes it
  Value payload;            // its schema is known when the harness knows the type

  template <typename M>
  bool is() const {
    return messageType == capnp::typeId<M>();
  }
  // The payload as M. Throws std::logic_error when the output is of another type.
  template <typename M>
  typename M::Reader as() const {
    if (!is<M>()) throw std::logic_error("output is not of the requested message type");
    return payload.as<M>();
  }
  std::string json() const { return payload.json(); }
};

// What one delivery of an input did.
struct Run {
  std::string endpoint;
  std::string entityType;
  std::string entityKey;
  HandlerSpec handler;  // the handler that ran
  MessageId inputId;
  std::string inputSource;  // the endpoint that sent it; empty: the edge
  MessageId correlationId;  // its conversation's (its own id when it starts one)
  TimePoint recordedAt{};   // what ctx.now() returned
  // True when the input's id was already applied: it was re-run on the version its first copy
  // saw, with the time that copy recorded, its outputs compared with the recorded ones and
  // published again; nothing was recorded.
  bool duplicate = false;
  // The entity version this input recorded (its first copy did); 0 from runOn(), which records
  // nothing.
  std::uint64_t version = 0;
  Value input;   // the payload
  Value before;  // the state it ran on (version - 1; the initial state for 1)
  Value state;   // the state it produced
  std::vector<Output> outputs;

  // The single output of type M. Throws std::logic_error when there is not exactly one.
  template <typename M>
  const Output& only() const {
    const Output* found = nullptr;
    for (const Output& o : outputs) {
      if (!o.is<M>()) continue;
      if (found) throw std::logic_error("more than one output of the requested type");
      found = &o;
    }
    if (!found) throw std::logic_error("no output of the requested type");
    return *found;
  }
};

// How an input arrives. Default: a fresh id, from the edge (no source), at the harness's clock.
struct Input {
  std::optional<MessageId> id{};
  std::string source{};  // the endpoint it comes from (ctx.reply() answers it); empty: the edge
  // The time the receiving endpoint records for it (ctx.now()); default: the harness's clock.
  std::optional<TimePoint> recordedAt{};
  MessageId correlationId{};  // zero: it starts a conversation
};

// Thrown by the delivery that crashAt() armed, at that step. Deliberately not a std::exception,
// so that no handler-failure path catches it: it unwinds like a process dying.
struct Crash {
  FaultPoint point;
};

// What a crash at one step, then the redelivery of the input, came to.
struct CrashOutcome {
  FaultPoint point;
  std::vector<Output> published;  // every copy published, by the crashed attempt and after it
  Run recovery;                   // the delivery that came after the crash
};

struct CrashCheck {
  Run run;                            // the crash-free run, which the harness now holds
  std::vector<CrashOutcome> crashes;  // one per FaultPoint, in pipeline order
};

// The endpoints' stores, the applied ids and the clock, in memory. Copying a Harness copies all
// of it: the copy goes on independently. Not thread-safe.
//
// A handler that throws makes its delivery throw the same exception, and nothing is recorded
// (the pipeline would retry it, then move the input to the error queue). What the pipeline would
// refuse as permanent (no handler for the type, a re-run whose bytes differ) throws idem::Error
// (permanent) naming the endpoint, the entity and the handler; misuse of the harness (an
// unknown endpoint, a published output delivered without naming where) throws std::logic_error.
class Harness {
 public:
  struct Options {
    // Runs every first copy twice and compares the bytes (EndpointOptions::verifyDeterminism),
    // so that a non-deterministic handler fails the test that first runs it.
    bool verifyDeterminism = true;
  };

  // `endpoints` (whose names must differ) must outlive the harness and its copies.
  explicit Harness(std::vector<const Handlers*> endpoints);
  Harness(std::vector<const Handlers*> endpoints, Options options);
  ~Harness();
  Harness(const Harness& other);
  Harness& operator=(const Harness& other);

  // JSON needs a message's schema: the harness knows those of every state and input its
  // endpoints handle; addSchema() adds an output type that no endpoint here handles.
  template <typename M>
  void addSchema() {
    addSchema(capnp::Schema::from<M>());
  }
  void addSchema(capnp::StructSchema schema);

  // The time the next input is recorded at. Starts at 2023-11-14 22:13:20 UTC; moves 1 ms
  // past each recorded version.
  TimePoint now() const;
  void advance(std::chrono::nanoseconds by);

  // Builds an M with fill(M::Builder) and delivers it to `endpoint`: a new input runs its
  // handler on the entity's head, which it moves to a new version; a duplicate (an id already
  // applied) re-runs on the version its first copy saw and records nothing.
  template <typename M, typename Fill>
  Run send(std::string_view endpoint, Fill fill, Input input = {}) {
    return deliverPayload(endpoint, capnp::typeId<M>(), payloadOf<M>(fill), std::move(input));
  }
  // The same with the input as JSON; `messageType` is the short name of its struct ("Greet")
  // or its full display name. Throws idem::Error (permanent) when the JSON does not fit.
  Run sendJson(std::string_view endpoint, std::string_view messageType, std::string_view json,
               Input input = {});
  // Delivers `output` with its id, source and correlation to its destination, or to `endpoint`
  // (required for published outputs); a delayed output is recorded no earlier than deliverAt.
  Run deliver(const Output& output, std::string_view endpoint = {});
  // Delivers `run`'s input again: the same id, bytes, source and correlation.
  Run redeliver(const Run& run);

  // Runs the handler on `state` (canonical bytes; empty: the initial state) and records nothing.
  template <typename M, typename Fill>
  Run runOn(std::string_view endpoint, const Bytes& state, Fill fill, Input input = {}) {
    return runOnPayload(endpoint, state, capnp::typeId<M>(), payloadOf<M>(fill), input);
  }
  // The same with the state and the input as JSON ("" or "{}": the initial state).
  Run runOnJson(std::string_view endpoint, std::string_view stateJson, std::string_view messageType,
                std::string_view inputJson, Input input = {});
  // Re-runs `run`'s input on `run.before` with the facts it first ran with, and records
  // nothing. Throws idem::Error (permanent) naming the first differing byte when the new state
  // or an output differs from `run`'s.
  Run rerun(const Run& run);

  // An entity's current state (the initial state while no version was recorded), and its
  // version (0 then). Throws std::logic_error when `endpoint` has no entity type `entityType`.
  Value state(std::string_view endpoint, std::string_view entityType, std::string_view key);
  template <typename State>
  typename State::Reader state(std::string_view endpoint, std::string_view entityType,
                               std::string_view key) {
    return state(endpoint, entityType, key).as<State>();
  }
  std::uint64_t version(std::string_view endpoint, std::string_view entityType,
                        std::string_view key) const;

  // Every copy published so far, in order: re-emissions of duplicates included.
  const std::vector<Output>& published() const;

  // Arms a crash: the next delivery stops at `point` (what came before it stays done: recorded,
  // published) and throws Crash. Its input stays un-acked until recover().
  void crashAt(FaultPoint point);
  // Delivers again every input a crash left un-acked, in order (what the transport does when
  // the crashed process's lease runs out).
  std::vector<Run> recover();

  // Sends like send(), after checking, on copies of the harness, a crash at each FaultPoint
  // followed by the redelivery: the entity must end with one version more and the state of the
  // crash-free run, and the distinct outputs published must be the crash-free run's, every copy
  // byte-identical. Throws idem::Error (permanent) naming the step and what differed.
  template <typename M, typename Fill>
  CrashCheck checkCrashAtEachStep(std::string_view endpoint, Fill fill, Input input = {}) {
    return checkCrashes(endpoint, capnp::typeId<M>(), payloadOf<M>(fill), std::move(input));
  }

 private:
  struct Impl;

  template <typename M, typename Fill>
  static Bytes payloadOf(Fill& fill) {
    capnp::MallocMessageBuilder message(kBuilderFirstSegmentWords);
    fill(message.initRoot<M>());
    Words words = canonicalOf(message.getRoot<M>().asReader());
    auto bytes = asBytes(words);
    return Bytes(bytes.begin(), bytes.end());
  }

  Run deliverPayload(std::string_view endpoint, std::uint64_t messageType, Bytes payload,
                     Input input);
  Run runOnPayload(std::string_view endpoint, const Bytes& state, std::uint64_t messageType,
                   Bytes payload, const Input& input);
  CrashCheck checkCrashes(std::string_view endpoint, std::uint64_t messageType, Bytes payload,
                          Input input);

  std::unique_ptr<Impl> impl_;
};

}  // namespace idem::testing
