// Harness: idem::testing's API over the PipelineModel, and the check of a crash at each step.
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <kj/exception.h>

#include <array>
#include <map>
#include <set>
#include <utility>

#include "idem/envelope.capnp.h"
#include "idem/error.h"
#include "idem/testing.h"
#include "testing/pipeline_model.h"

namespace idem::testing {

using detail::differenceOf;
using detail::firstDifference;
using detail::fromNanos;
using detail::ModelDelivery;
using detail::ModelResult;
using detail::ModelStore;
using detail::nameOf;
using detail::toBytes;
using detail::toNanos;

namespace {

constexpr std::array kFaultPoints = {FaultPoint::kInHandler, FaultPoint::kBeforeCommit,
                                     FaultPoint::kAfterCommit, FaultPoint::kAfterPublish,
                                     FaultPoint::kBeforeAck};

MessageId idOr(capnp::Data::Reader data) {
  return MessageId::fromBytes({data.begin(), data.size()}).value_or(MessageId{});
}

Bytes canonicalFromJson(capnp::StructSchema schema, std::string_view json) {
  capnp::JsonCodec codec;
  codec.setRejectUnknownFields(true);  // a typo must not become a default field
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<capnp::DynamicStruct>(schema);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), root);
               })) {
    fail(ErrorKind::kPermanent, std::string("JSON does not fit ") +
                                    schema.getShortDisplayName().cStr() + ": " +
                                    e->getDescription().cStr());
  }
  return toBytes(message.getRoot<capnp::AnyStruct>().asReader().canonicalize());
}

}  // namespace

struct Harness::Impl : detail::PipelineModel {};

Harness::Harness(std::vector<const Handlers*> endpoints) : Harness(std::move(endpoints), {}) {}

Harness::Harness(std::vector<const Handlers*> endpoints, Options options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  for (const Handlers* handlers : endpoints) {
    for (const ModelStore& s : impl_->stores) {
      if (s.handlers->endpointName() == handlers->endpointName()) {
        throw std::logic_error("two endpoints named " + handlers->endpointName());
      }
    }
    impl_->stores.push_back({handlers, {}, {}});
  }
}

Harness::~Harness() = default;
Harness::Harness(const Harness& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Harness& Harness::operator=(const Harness& other) {
  if (this != &other) *impl_ = *other.impl_;
  return *this;
}

void Harness::addSchema(capnp::StructSchema schema) {
  impl_->schemas.emplace(schema.getProto().getId(), schema);
}

TimePoint Harness::now() const { return fromNanos(impl_->nowNs); }
void Harness::advance(std::chrono::nanoseconds by) { impl_->nowNs += by.count(); }

Run Harness::deliverPayload(std::string_view endpoint, std::uint64_t messageType, Bytes payload,
                            Input input) {
  return impl_->deliver(impl_->deliveryOf(endpoint, messageType, std::move(payload), input));
}

Run Harness::sendJson(std::string_view endpoint, std::string_view messageType,
                      std::string_view json, Input input) {
  const auto& handler = impl_->handlerByName(impl_->storeOf(endpoint), messageType);
  return deliverPayload(endpoint, handler.messageType,
                        canonicalFromJson(handler.messageSchema, json), std::move(input));
}

Run Harness::deliver(const Output& output, std::string_view endpoint) {
  if (endpoint.empty() && output.destination.empty()) {
    throw std::logic_error("a published output: name the endpoint to deliver it to");
  }
  CanonicalReader envelope(output.envelope, "envelope");
  Input input{.id = output.id,
              .source = output.source,
              .correlationId = idOr(envelope.root<wire::Envelope>().getCorrelationId())};
  if (toNanos(output.deliverAt) > impl_->nowNs) input.recordedAt = output.deliverAt;
  return deliverPayload(endpoint.empty() ? std::string_view(output.destination) : endpoint,
                        output.messageType, output.payload.bytes(), std::move(input));
}

Run Harness::redeliver(const Run& run) {
  if (!run.input.schema()) throw std::logic_error("this run has no input");
  Input input{.id = run.inputId, .source = run.inputSource, .correlationId = run.correlationId};
  return deliverPayload(run.endpoint, run.input.schema()->getProto().getId(), run.input.bytes(),
                        std::move(input));
}

Run Harness::runOnPayload(std::string_view endpoint, const Bytes& state, std::uint64_t messageType,
                          Bytes payload, const Input& input) {
  ModelStore& store = impl_->storeOf(endpoint);
  const detail::RegisteredHandler* handler = store.handlers->findByMessageType(messageType);
  if (handler == nullptr) {
    fail(ErrorKind::kPermanent, "endpoint " + std::string(endpoint) + " has no handler for " +
                                    impl_->typeName(messageType));
  }
  ModelDelivery d = impl_->deliveryOf(endpoint, messageType, std::move(payload), input);
  CanonicalReader reader(d.payload, "payload");
  const std::string key = handler->keyOf(reader.root<capnp::AnyStruct>());
  const std::int64_t recordedAtNs = d.recordedAtNs.value_or(impl_->nowNs);
  Value given(state, handler->stateSchema);
  ModelResult result = Impl::runOnce(*handler, key, d, recordedAtNs, given);
  Value before = state.empty() ? impl_->initialState(store, handler->entityType) : given;
  return impl_->runOf(*handler, key, d, recordedAtNs, std::move(before), result);
}

Run Harness::runOnJson(std::string_view endpoint, std::string_view stateJson,
                       std::string_view messageType, std::string_view inputJson, Input input) {
  const auto& handler = impl_->handlerByName(impl_->storeOf(endpoint), messageType);
  Bytes state;
  if (!stateJson.empty()) state = canonicalFromJson(handler.stateSchema, stateJson);
  return runOnPayload(endpoint, state, handler.messageType,
                      canonicalFromJson(handler.messageSchema, inputJson), input);
}

Run Harness::rerun(const Run& run) {
  ModelStore& store = impl_->storeOf(run.endpoint);
  const detail::RegisteredHandler* handler =
      store.handlers->findBySpec(run.handler.id, run.handler.version);
  if (handler == nullptr) {
    throw std::logic_error("endpoint " + run.endpoint + " has no handler " + nameOf(run.handler));
  }
  ModelDelivery d = impl_->deliveryOf(
      run.endpoint, handler->messageType, run.input.bytes(),
      {.id = run.inputId, .source = run.inputSource, .correlationId = run.correlationId});
  // The initial state runs as the pipeline runs it: from no bytes.
  const bool initial = run.before == impl_->initialState(store, handler->entityType);
  ModelResult result = Impl::runOnce(*handler, run.entityKey, d, toNanos(run.recordedAt),
                                     initial ? Value() : run.before);
  std::vector<Bytes> envelopes;
  for (const Output& o : run.outputs) envelopes.push_back(o.envelope);
  std::string difference = differenceOf(toBytes(result.state), Impl::envelopesOf(result.outputs),
                                        run.state.bytes(), envelopes);
  if (!difference.empty()) {
    fail(ErrorKind::kPermanent, "non-deterministic handler " + nameOf(run.handler) +
                                    ": re-run on " + run.entityType + "/" + run.entityKey +
                                    ", it differs from its first run: " + difference);
  }
  Run again = impl_->runOf(*handler, run.entityKey, d, toNanos(run.recordedAt), run.before, result);
  again.version = run.version;
  return again;
}

Value Harness::state(std::string_view endpoint, std::string_view entityType, std::string_view key) {
  ModelStore& store = impl_->storeOf(endpoint);
  auto it = store.entities.find({std::string(entityType), std::string(key)});
  if (it == store.entities.end() || it->second.empty()) {
    return impl_->initialState(store, entityType);
  }
  return it->second.back().state;
}

std::uint64_t Harness::version(std::string_view endpoint, std::string_view entityType,
                               std::string_view key) const {
  const ModelStore& store = impl_->storeOf(endpoint);
  auto it = store.entities.find({std::string(entityType), std::string(key)});
  return it == store.entities.end() ? 0 : it->second.size();
}

const std::vector<Output>& Harness::published() const { return impl_->published; }

void Harness::crashAt(FaultPoint point) { impl_->crashAt = point; }

std::vector<Run> Harness::recover() {
  std::vector<ModelDelivery> inputs = std::move(impl_->unacked);
  impl_->unacked.clear();
  std::vector<Run> runs;
  for (const ModelDelivery& input : inputs) runs.push_back(impl_->deliver(input));
  return runs;
}

CrashCheck Harness::checkCrashes(std::string_view endpoint, std::uint64_t messageType,
                                 Bytes payload, Input input) {
  if (!impl_->unacked.empty()) throw std::logic_error("inputs are left un-acked: recover() first");
  // The id is fixed here, so that every copy of the harness delivers the same input.
  const ModelDelivery d = impl_->deliveryOf(endpoint, messageType, std::move(payload), input);
  Harness clean(*this);
  CrashCheck check{clean.impl_->deliver(d), {}};
  const Run& expected = check.run;
  std::map<MessageId, const Output*> expectedOutputs;
  for (const Output& o : expected.outputs) expectedOutputs.emplace(o.id, &o);

  for (FaultPoint point : kFaultPoints) {
    const std::string where = std::string("after a crash at ") + toString(point) + ": ";
    Harness crashed(*this);
    const std::size_t before = crashed.impl_->published.size();
    crashed.crashAt(point);
    try {
      crashed.impl_->deliver(d);
      throw std::logic_error(where + "the delivery did not reach the step");
    } catch (const Crash&) {
    }
    std::vector<Run> recovered;
    try {
      recovered = crashed.recover();
    } catch (const Error& e) {
      fail(e.kind(), where + e.what());
    }
    const auto v = crashed.version(endpoint, expected.entityType, expected.entityKey);
    if (v != expected.version) {
      fail(ErrorKind::kPermanent, where + expected.entityType + "/" + expected.entityKey +
                                      " is at version " + std::to_string(v) + ", not " +
                                      std::to_string(expected.version));
    }
    Value state = crashed.state(endpoint, expected.entityType, expected.entityKey);
    if (auto at = firstDifference(state.bytes(), expected.state.bytes())) {
      fail(ErrorKind::kPermanent,
           where + "the state differs from the crash-free run's at byte " + std::to_string(*at));
    }
    std::vector<Output> copies(crashed.impl_->published.begin() + before,
                               crashed.impl_->published.end());
    std::set<MessageId> seen;
    for (const Output& copy : copies) {
      auto it = expectedOutputs.find(copy.id);
      if (it == expectedOutputs.end()) {
        fail(ErrorKind::kPermanent,
             where + "published " + copy.id.toHex() + ", which the crash-free run does not emit");
      }
      if (auto at = firstDifference(copy.envelope, it->second->envelope)) {
        fail(ErrorKind::kPermanent, where + "a copy of " + copy.id.toHex() +
                                        " differs from the crash-free run's at byte " +
                                        std::to_string(*at));
      }
      seen.insert(copy.id);
    }
    if (seen.size() != expectedOutputs.size()) {
      fail(ErrorKind::kPermanent, where + std::to_string(expectedOutputs.size() - seen.size()) +
                                      " of the crash-free run's outputs were never published");
    }
    check.crashes.push_back({point, std::move(copies), std::move(recovered.at(0))});
  }
  *this = clean;
  return check;
}

}  // namespace idem::testing
