// HandlerHarness: runs registered handlers directly (no store, no transport), keeps each entity's
// latest state in memory, and decodes the outputs, so that tests can drive a process step by
// step: send an input, inspect the outputs, deliver one of them to the next endpoint.
//
//   HandlerHarness h({&accounts, &transfers});
//   auto run = h.send<bank::StartTransfer>("transfers", [](auto m) { m.setTransferId("t1"); ... });
//   auto next = h.deliver(run.outputs.at(0));  // to its destination, with its id and source
#pragma once

#include <capnp/message.h>
#include <idem/canonical.h>
#include <idem/envelope.capnp.h>
#include <idem/handlers.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "handlers/invocation.h"

namespace idem::test {

// Canonical bytes with a reader over them, shared so that copies stay valid.
class Decoded {
 public:
  Decoded(Bytes bytes, const char* what) : bytes_(std::make_shared<Held>(std::move(bytes))) {
    bytes_->reader.emplace(std::span(bytes_->bytes), what);
  }
  const Bytes& bytes() const { return bytes_->bytes; }
  template <typename M>
  typename M::Reader root() const {
    return bytes_->reader->template root<M>();
  }

 private:
  struct Held {
    explicit Held(Bytes b) : bytes(std::move(b)) {}
    Bytes bytes;
    std::optional<CanonicalReader> reader;
  };
  std::shared_ptr<Held> bytes_;
};

// One output of a run, decoded from its canonical envelope.
struct Output {
  MessageId id;
  std::uint64_t messageType = 0;
  std::string destination;  // empty: published
  std::string source;
  std::int64_t deliverAtNs = 0;
  Bytes envelope;   // canonical envelope bytes, as the pipeline would publish them
  Decoded payload;  // canonical payload bytes

  template <typename M>
  bool is() const {
    return messageType == capnp::typeId<M>();
  }
  // The payload as M; throws std::logic_error when it is another type. Valid while a copy of
  // this output lives.
  template <typename M>
  typename M::Reader as() const {
    if (!is<M>()) throw std::logic_error("output is not of the requested message type");
    return payload.root<M>();
  }
};

// What a run produced: the entity it addressed, its new canonical state, and its outputs.
struct Run {
  std::string endpoint;
  std::string entityType;
  std::string entityKey;
  Bytes state;
  std::vector<Output> outputs;
  detail::Digest digest{};

  // The single output of type M; throws std::logic_error when there is not exactly one.
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

// How an input arrives. Defaults: a fresh edge id, no source (an edge input), the harness clock.
struct Input {
  std::optional<MessageId> id{};
  std::string source{};
  std::optional<std::int64_t> recordedAtNs{};
};

class HandlerHarness {
 public:
  // `endpoints` must outlive the harness.
  explicit HandlerHarness(std::vector<const Handlers*> endpoints)
      : endpoints_(std::move(endpoints)) {}

  // The harness clock (ns since the epoch): the recorded time of the next input by default.
  std::int64_t nowNs() const { return nowNs_; }
  void advance(std::chrono::nanoseconds by) { nowNs_ += by.count(); }

  // Builds an M with `fill(M::Builder)` and runs its handler at `endpoint` on the stored state of
  // the entity it addresses, which it then replaces.
  template <typename M, typename Fill>
  Run send(std::string_view endpoint, Fill fill, Input input = {}) {
    return runStored(endpoint, capnp::typeId<M>(), payloadOf<M>(fill), std::move(input));
  }

  // Delivers `output` to its destination (or to `endpoint`, for published ones) with its own id
  // and source; a delayed output is recorded no earlier than its deliverAt.
  Run deliver(const Output& output, std::string_view endpoint = {}) {
    Input input{output.id, output.source, std::max(nowNs_, output.deliverAtNs)};
    return runStored(endpoint.empty() ? std::string_view(output.destination) : endpoint,
                     output.messageType, output.payload.bytes(), input);
  }

  // Runs like send() on the given `state` (empty: the initial state) and stores nothing.
  template <typename M, typename Fill>
  Run runOn(std::string_view endpoint, const Bytes& state, Fill fill, Input input) {
    return run(endpoint, capnp::typeId<M>(), state, payloadOf<M>(fill), std::move(input));
  }

  // The stored state of an entity (empty when it was never addressed).
  const Bytes& stateBytes(std::string_view endpoint, std::string_view entityType,
                          std::string_view key) {
    return states_[{std::string(endpoint), std::string(entityType), std::string(key)}];
  }

  // Reads canonical state bytes as `State`; an empty state reads as the initial (default)
  // state. The reader stays valid as long as the harness.
  template <typename State>
  typename State::Reader read(const Bytes& state) {
    Bytes bytes = state;
    if (bytes.empty()) {
      capnp::MallocMessageBuilder initial;
      Words words = canonicalOf(initial.initRoot<State>().asReader());
      auto view = asBytes(words);
      bytes.assign(view.begin(), view.end());
    }
    return read_.emplace_back(std::move(bytes), "state").template root<State>();
  }
  template <typename State>
  typename State::Reader state(std::string_view endpoint, std::string_view entityType,
                               std::string_view key) {
    return read<State>(stateBytes(endpoint, entityType, key));
  }

 private:
  template <typename M, typename Fill>
  static Bytes payloadOf(Fill& fill) {
    capnp::MallocMessageBuilder message;
    fill(message.initRoot<M>());
    Words words = canonicalOf(message.getRoot<M>().asReader());
    auto bytes = asBytes(words);
    return Bytes(bytes.begin(), bytes.end());
  }

  const Handlers& endpointNamed(std::string_view name) const {
    for (const Handlers* h : endpoints_) {
      if (h->endpointName() == name) return *h;
    }
    throw std::logic_error("no endpoint named " + std::string(name));
  }

  Run runStored(std::string_view endpoint, std::uint64_t type, const Bytes& payload, Input input) {
    Run r = run(endpoint, type, stateOf(endpoint, type, payload), payload, std::move(input));
    states_[{r.endpoint, r.entityType, r.entityKey}] = r.state;
    return r;
  }

  const Bytes& stateOf(std::string_view endpoint, std::uint64_t type, const Bytes& payload) {
    const detail::RegisteredHandler& h = handlerOf(endpoint, type);
    CanonicalReader reader(std::span<const std::byte>(payload), "payload");
    return stateBytes(endpoint, h.entityType, h.keyOf(reader.root<capnp::AnyStruct>()));
  }

  const detail::RegisteredHandler& handlerOf(std::string_view endpoint, std::uint64_t type) const {
    const detail::RegisteredHandler* h = endpointNamed(endpoint).findByMessageType(type);
    if (!h) throw std::logic_error("endpoint " + std::string(endpoint) + " has no such handler");
    return *h;
  }

  Run run(std::string_view endpoint, std::uint64_t type, const Bytes& state, const Bytes& payload,
          Input input) {
    const detail::RegisteredHandler& h = handlerOf(endpoint, type);
    CanonicalReader message(std::span<const std::byte>(payload), "payload");
    Run r;
    r.endpoint = endpoint;
    r.entityType = h.entityType;
    r.entityKey = h.keyOf(message.root<capnp::AnyStruct>());

    detail::InputFacts facts;
    facts.endpoint = r.endpoint;
    facts.entityType = r.entityType;
    facts.entityKey = r.entityKey;
    facts.inputId = input.id ? *input.id : MessageId::forEdge("harness", std::to_string(++inputs_));
    facts.inputSource = input.source;
    facts.recordedAtNs = input.recordedAtNs ? *input.recordedAtNs : nowNs_;
    nowNs_ = std::max(nowNs_, facts.recordedAtNs) + 1'000'000;  // 1 ms per input

    std::optional<CanonicalReader> previous;
    kj::ArrayPtr<const capnp::word> words;
    if (!state.empty()) words = previous.emplace(std::span(state), "state").words();
    detail::Invocation invocation(facts);
    Words next = h.apply(words, message.root<capnp::AnyStruct>(), invocation.context());
    auto nextBytes = asBytes(next);
    r.state.assign(nextBytes.begin(), nextBytes.end());

    detail::Emitted emitted = invocation.finish();
    r.digest = emitted.digest;
    for (Outbound& out : emitted.messages) {
      CanonicalReader envelopeReader(std::span(out.envelope), "envelope");
      auto envelope = envelopeReader.root<wire::Envelope>();
      auto p = envelope.getPayload();
      Decoded decoded(Bytes(reinterpret_cast<const std::byte*>(p.begin()),
                            reinterpret_cast<const std::byte*>(p.end())),
                      "payload");
      Output o{.id = out.id,
               .messageType = out.messageType,
               .destination = out.destination,
               .source = envelope.getSource(),
               .deliverAtNs = envelope.getDeliverAt(),
               .envelope = std::move(out.envelope),
               .payload = std::move(decoded)};
      r.outputs.push_back(std::move(o));
    }
    return r;
  }

  std::vector<const Handlers*> endpoints_;
  std::map<std::tuple<std::string, std::string, std::string>, Bytes> states_;
  std::vector<Decoded> read_;  // keeps the results of read() valid
  std::int64_t nowNs_ = 1'700'000'000'000'000'000;
  std::uint64_t inputs_ = 0;
};

}  // namespace idem::test
