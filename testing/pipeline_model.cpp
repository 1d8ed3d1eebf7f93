// PipelineModel: one delivery through the pipeline's steps, numbered as in DESIGN.md §2. A crash
// armed at a step leaves everything before it done.
#include "testing/pipeline_model.h"

#include <capnp/dynamic.h>

#include <algorithm>
#include <cstdio>

#include "handlers/invocation.h"
#include "idem/envelope.capnp.h"
#include "idem/error.h"

namespace idem::detail {

std::int64_t toNanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

TimePoint fromNanos(std::int64_t ns) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

std::string nameOf(const HandlerSpec& spec) {
  return spec.id + " v" + std::to_string(spec.version);
}

Bytes toBytes(kj::ArrayPtr<const capnp::word> words) {
  auto bytes = asBytes(words);
  return Bytes(bytes.begin(), bytes.end());
}

std::optional<std::size_t> firstDifference(const Bytes& a, const Bytes& b) {
  auto mismatch = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  if (mismatch.first == a.end() && mismatch.second == b.end()) return std::nullopt;
  return static_cast<std::size_t>(mismatch.first - a.begin());
}

std::string differenceOf(const Bytes& state, const std::vector<Bytes>& outputs,
                         const Bytes& otherState, const std::vector<Bytes>& otherOutputs) {
  if (auto at = firstDifference(state, otherState)) {
    return "the new state differs at byte " + std::to_string(*at);
  }
  if (outputs.size() != otherOutputs.size()) {
    return std::to_string(outputs.size()) + " outputs against " +
           std::to_string(otherOutputs.size());
  }
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (auto at = firstDifference(outputs[i], otherOutputs[i])) {
      return "output " + std::to_string(i) + " differs at byte " + std::to_string(*at);
    }
  }
  return "";
}

ModelStore& PipelineModel::storeOf(std::string_view endpoint) {
  for (ModelStore& s : stores) {
    if (s.handlers->endpointName() == endpoint) return s;
  }
  throw std::logic_error("the harness has no endpoint named " + std::string(endpoint));
}

std::optional<capnp::StructSchema> PipelineModel::schemaOf(std::uint64_t typeId) const {
  for (const ModelStore& s : stores) {
    for (const auto& h : s.handlers->all()) {
      if (h->messageSchema.getProto().getId() == typeId) return h->messageSchema;
      if (h->stateSchema.getProto().getId() == typeId) return h->stateSchema;
    }
  }
  auto it = schemas.find(typeId);
  if (it == schemas.end()) return std::nullopt;
  return it->second;
}

std::string PipelineModel::typeName(std::uint64_t typeId) const {
  auto schema = schemaOf(typeId);
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(typeId));
  return schema ? std::string(schema->getShortDisplayName().cStr()) + " (" + hex + ")" : hex;
}

const testing::Value& PipelineModel::initialState(const ModelStore& store,
                                                  std::string_view entityType) {
  std::pair<std::string, std::string> name{store.handlers->endpointName(), entityType};
  auto it = initialStates.find(name);
  if (it != initialStates.end()) return it->second;
  for (const auto& h : store.handlers->all()) {
    if (h->entityType != entityType) continue;
    capnp::MallocMessageBuilder message;
    message.initRoot<capnp::DynamicStruct>(h->stateSchema);
    testing::Value initial(toBytes(message.getRoot<capnp::AnyStruct>().asReader().canonicalize()),
                           h->stateSchema);
    return initialStates.emplace(name, std::move(initial)).first->second;
  }
  throw std::logic_error("endpoint " + name.first + " has no entity type " + name.second);
}

const RegisteredHandler& PipelineModel::handlerByName(const ModelStore& store,
                                                      std::string_view messageType) const {
  std::string known;
  for (const auto& h : store.handlers->all()) {
    if (h->replayOnly) continue;
    std::string_view shortName = h->messageSchema.getShortDisplayName().cStr();
    std::string_view fullName = h->messageSchema.getProto().getDisplayName().cStr();
    if (shortName == messageType || fullName == messageType) return *h;
    known += (known.empty() ? "" : ", ") + std::string(shortName);
  }
  throw std::logic_error("endpoint " + store.handlers->endpointName() +
                         " handles no message type '" + std::string(messageType) +
                         "' (it handles " + known + ")");
}

ModelDelivery PipelineModel::deliveryOf(std::string_view endpoint, std::uint64_t messageType,
                                        Bytes payload, const testing::Input& input) {
  ModelDelivery d;
  d.endpoint = endpoint;
  d.messageType = messageType;
  d.payload = std::move(payload);
  d.id = input.id ? *input.id
                  : MessageId::forEdge("idem.testing", "input-" + std::to_string(++edgeInputs));
  d.source = input.source;
  d.correlationId = input.correlationId;
  if (input.recordedAt) d.recordedAtNs = toNanos(*input.recordedAt);
  return d;
}

ModelResult PipelineModel::runOnce(const RegisteredHandler& handler, std::string_view key,
                                   const ModelDelivery& input, std::int64_t recordedAtNs,
                                   const testing::Value& state) {
  InputFacts facts;
  facts.endpoint = input.endpoint;
  facts.entityType = handler.entityType;
  facts.entityKey = key;
  facts.inputId = input.id;
  facts.correlationId = input.correlationId;
  facts.inputSource = input.source;
  facts.recordedAtNs = recordedAtNs;
  CanonicalReader payload(input.payload, "payload");
  std::optional<CanonicalReader> before;
  kj::ArrayPtr<const capnp::word> words;
  if (!state.bytes().empty()) words = before.emplace(state.bytes(), "state").words();
  Invocation invocation(facts);
  RunReader reader(payload.words());  // a fresh traversal limit per run, as the pipeline's
  ModelResult r;
  r.state = handler.apply(words, reader.root<capnp::AnyStruct>(), invocation.context());
  r.outputs = std::move(invocation.finish().messages);
  return r;
}

testing::Output PipelineModel::outputOf(const Outbound& out) const {
  CanonicalReader reader(out.envelope, "envelope");
  auto envelope = reader.root<wire::Envelope>();
  auto payload = envelope.getPayload();
  testing::Output o;
  o.id = out.id;
  o.messageType = out.messageType;
  o.destination = out.destination;
  o.source = envelope.getSource();
  o.deliverAt = out.deliverAt;
  o.envelope = out.envelope;
  o.payload = testing::Value(Bytes(reinterpret_cast<const std::byte*>(payload.begin()),
                                   reinterpret_cast<const std::byte*>(payload.end())),
                             schemaOf(out.messageType));
  return o;
}

testing::Run PipelineModel::runOf(const RegisteredHandler& handler, std::string_view key,
                                  const ModelDelivery& input, std::int64_t recordedAtNs,
                                  testing::Value before, const ModelResult& result) const {
  testing::Run r;
  r.endpoint = input.endpoint;
  r.entityType = handler.entityType;
  r.entityKey = key;
  r.handler = handler.spec;
  r.inputId = input.id;
  r.inputSource = input.source;
  r.correlationId = input.correlationId.isZero() ? input.id : input.correlationId;
  r.recordedAt = fromNanos(recordedAtNs);
  r.input = testing::Value(input.payload, handler.messageSchema);
  r.before = std::move(before);
  r.state = testing::Value(toBytes(result.state), handler.stateSchema);
  for (const Outbound& out : result.outputs) r.outputs.push_back(outputOf(out));
  return r;
}

std::vector<Bytes> PipelineModel::envelopesOf(const std::vector<Outbound>& outputs) {
  std::vector<Bytes> envelopes;
  for (const Outbound& out : outputs) envelopes.push_back(out.envelope);
  return envelopes;
}

void PipelineModel::step(FaultPoint point, const ModelDelivery& input) {
  if (crashAt != point) return;
  crashAt.reset();
  unacked.push_back(input);
  throw testing::Crash{point};
}

testing::Run PipelineModel::deliver(const ModelDelivery& input) {
  ModelStore& store = storeOf(input.endpoint);
  // 1. The applied index: a copy of an input already applied is a duplicate.
  if (auto applied = store.applied.find(input.id); applied != store.applied.end()) {
    return deliverDuplicate(store, input, applied->second);
  }
  const RegisteredHandler* handler = store.handlers->findByMessageType(input.messageType);
  if (handler == nullptr) {
    fail(ErrorKind::kPermanent,
         "endpoint " + input.endpoint + " has no handler for " + typeName(input.messageType));
  }
  CanonicalReader payload(input.payload, "payload");
  const std::string key = handler->keyOf(payload.root<capnp::AnyStruct>());
  std::vector<ModelVersion>& versions = store.entities[{handler->entityType, key}];
  testing::Value head = versions.empty() ? testing::Value() : versions.back().state;
  const std::int64_t recordedAtNs = input.recordedAtNs.value_or(nowNs);

  // 2. Run the handler on the head (twice with verifyDeterminism).
  step(FaultPoint::kInHandler, input);
  ModelResult result = runOnce(*handler, key, input, recordedAtNs, head);
  if (options.verifyDeterminism) {
    ModelResult again = runOnce(*handler, key, input, recordedAtNs, head);
    std::string difference = differenceOf(toBytes(result.state), envelopesOf(result.outputs),
                                          toBytes(again.state), envelopesOf(again.outputs));
    if (!difference.empty()) {
      fail(ErrorKind::kPermanent, "non-deterministic handler " + nameOf(handler->spec) +
                                      ": two runs on " + handler->entityType + "/" + key +
                                      " version " + std::to_string(versions.size()) +
                                      " differ: " + difference);
    }
  }
  testing::Value before = versions.empty() ? initialState(store, handler->entityType) : head;
  testing::Run run = runOf(*handler, key, input, recordedAtNs, std::move(before), result);

  // 3. Record version v + 1 and the applied id, durably.
  step(FaultPoint::kBeforeCommit, input);
  versions.push_back({handler->spec, input, recordedAtNs, run.state, envelopesOf(result.outputs)});
  run.version = versions.size();
  store.applied[input.id] = {{handler->entityType, key}, run.version};
  nowNs = std::max(nowNs, recordedAtNs) + kStepNs;
  step(FaultPoint::kAfterCommit, input);

  // 4. Publish, then ack.
  published.insert(published.end(), run.outputs.begin(), run.outputs.end());
  step(FaultPoint::kAfterPublish, input);
  step(FaultPoint::kBeforeAck, input);
  return run;
}

testing::Run PipelineModel::deliverDuplicate(ModelStore& store, const ModelDelivery& input,
                                             const ModelStore::Applied& applied) {
  const std::vector<ModelVersion>& versions = store.entities.at(applied.entity);
  const ModelVersion& recorded = versions.at(applied.version - 1);
  const std::string what = applied.entity.first + "/" + applied.entity.second + " version " +
                           std::to_string(applied.version);
  const RegisteredHandler* handler =
      store.handlers->findBySpec(recorded.handler.id, recorded.handler.version);
  if (handler == nullptr) {
    fail(ErrorKind::kPermanent, "cannot re-run " + what + ": it was recorded by handler " +
                                    nameOf(recorded.handler) + ", which is no longer registered");
  }
  testing::Value before =
      applied.version == 1 ? testing::Value() : versions[applied.version - 2].state;

  // 2. Re-run the recorded input on the version before it, with the time it recorded.
  step(FaultPoint::kInHandler, input);
  ModelResult result =
      runOnce(*handler, applied.entity.second, recorded.input, recorded.recordedAtNs, before);
  std::string difference = differenceOf(toBytes(result.state), envelopesOf(result.outputs),
                                        recorded.state.bytes(), recorded.outputs);
  if (!difference.empty()) {
    fail(ErrorKind::kPermanent, "non-determinism: handler " + nameOf(recorded.handler) +
                                    " re-run on " + what +
                                    " differs from what it recorded: " + difference);
  }
  if (before.bytes().empty()) before = initialState(store, applied.entity.first);
  testing::Run run = runOf(*handler, applied.entity.second, recorded.input, recorded.recordedAtNs,
                           std::move(before), result);
  run.duplicate = true;
  run.version = applied.version;

  // 3. Nothing to record. 4. Publish again, then ack.
  step(FaultPoint::kBeforeCommit, input);
  step(FaultPoint::kAfterCommit, input);
  published.insert(published.end(), run.outputs.begin(), run.outputs.end());
  step(FaultPoint::kAfterPublish, input);
  step(FaultPoint::kBeforeAck, input);
  return run;
}

}  // namespace idem::detail
