// PipelineModel: the pipeline's steps for one input (DESIGN.md §2), in memory, behind
// idem::testing::Harness: the applied index, each entity's versions, what was published, and a
// crash armed at one of the steps. A value type: copying it copies every store.
#pragma once

#include <capnp/schema.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "idem/testing.h"

namespace idem::detail {

std::int64_t toNanos(TimePoint t);
TimePoint fromNanos(std::int64_t ns);
std::string nameOf(const HandlerSpec& spec);  // "id vN"
Bytes toBytes(kj::ArrayPtr<const capnp::word> words);

// Offset of the first byte where `a` and `b` differ, or nullopt when they are identical.
std::optional<std::size_t> firstDifference(const Bytes& a, const Bytes& b);
// What differs between two runs' new states and output envelopes; "" when nothing does.
std::string differenceOf(const Bytes& state, const std::vector<Bytes>& outputs,
                         const Bytes& otherState, const std::vector<Bytes>& otherOutputs);

// An input as the transport hands it over, and hands it over again after a crash.
struct ModelDelivery {
  std::string endpoint;
  std::uint64_t messageType = 0;
  Bytes payload;
  MessageId id;
  std::string source;
  MessageId correlationId;
  std::optional<std::int64_t> recordedAtNs;  // set by the test; else the clock when recorded
};

// One recorded version: what its history entry keeps, and its state (a snapshot per version).
struct ModelVersion {
  HandlerSpec handler;
  ModelDelivery input;
  std::int64_t recordedAtNs = 0;
  testing::Value state;
  std::vector<Bytes> outputs;  // canonical envelopes, which duplicates must reproduce
};

using ModelEntity = std::pair<std::string, std::string>;  // entity type, key

// One endpoint's store.
struct ModelStore {
  struct Applied {
    ModelEntity entity;
    std::uint64_t version = 0;
  };
  const Handlers* handlers = nullptr;
  std::map<ModelEntity, std::vector<ModelVersion>> entities;  // version v at [v - 1]
  std::map<MessageId, Applied> applied;
};

// A handler run's new state and outputs.
struct ModelResult {
  Words state;
  std::vector<Outbound> outputs;
};

class PipelineModel {
 public:
  static constexpr std::int64_t kStartNs = 1'700'000'000'000'000'000;  // 2023-11-14 22:13:20 UTC
  static constexpr std::int64_t kStepNs = 1'000'000;                   // 1 ms past each version

  testing::Harness::Options options;
  std::vector<ModelStore> stores;
  std::map<std::uint64_t, capnp::StructSchema> schemas;  // addSchema()'s, by type id
  std::map<std::pair<std::string, std::string>, testing::Value> initialStates;  // endpoint, type
  std::int64_t nowNs = kStartNs;
  std::uint64_t edgeInputs = 0;
  std::optional<FaultPoint> crashAt;
  std::vector<ModelDelivery> unacked;
  std::vector<testing::Output> published;

  // Throws std::logic_error when there is no such endpoint.
  ModelStore& storeOf(std::string_view endpoint);
  // The schema of a state or message type any endpoint handles, or one added; looked up at each
  // use, since handlers may be registered after the harness was made.
  std::optional<capnp::StructSchema> schemaOf(std::uint64_t typeId) const;
  std::string typeName(std::uint64_t typeId) const;  // "Greet (0x...)"
  // The canonical default state of `entityType`, kept so that readers of it stay valid. Throws
  // std::logic_error when `store` has no such entity type.
  const testing::Value& initialState(const ModelStore& store, std::string_view entityType);
  // The (not replay-only) handler of the message type named `messageType`. Throws
  // std::logic_error listing the known names.
  const RegisteredHandler& handlerByName(const ModelStore& store,
                                         std::string_view messageType) const;

  // `input` as a delivery to `endpoint`, with a fresh id when it has none.
  ModelDelivery deliveryOf(std::string_view endpoint, std::uint64_t messageType, Bytes payload,
                           const testing::Input& input);
  // One run of `handler` with the facts of `input` on `state` (holding nothing: the initial
  // state). Throws what the handler throws.
  static ModelResult runOnce(const RegisteredHandler& handler, std::string_view key,
                             const ModelDelivery& input, std::int64_t recordedAtNs,
                             const testing::Value& state);
  testing::Run runOf(const RegisteredHandler& handler, std::string_view key,
                     const ModelDelivery& input, std::int64_t recordedAtNs, testing::Value before,
                     const ModelResult& result) const;
  static std::vector<Bytes> envelopesOf(const std::vector<Outbound>& outputs);

  // The steps for one delivery, new or duplicate. Throws testing::Crash at the armed step.
  testing::Run deliver(const ModelDelivery& input);

 private:
  testing::Run deliverDuplicate(ModelStore& store, const ModelDelivery& input,
                                const ModelStore::Applied& applied);
  testing::Output outputOf(const Outbound& out) const;
  // A crash armed at `point` happens here: the input stays un-acked.
  void step(FaultPoint point, const ModelDelivery& input);
};

}  // namespace idem::detail
