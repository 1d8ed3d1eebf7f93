// HandlerRun: one deterministic run of a handler.
#include "framework/handler_run.h"

#include <string>

#include "idem/error.h"

namespace idem::detail {

namespace {
MessageId idOr(capnp::Data::Reader data) {
  return MessageId::fromBytes({data.begin(), data.size()}).value_or(MessageId{});
}
}  // namespace

RecordedInput::RecordedInput(std::span<const std::byte> bytes)
    : envelope_(bytes, "recorded input envelope") {
  auto payload = envelope().getPayload();
  payload_.emplace(std::span(reinterpret_cast<const std::byte*>(payload.begin()), payload.size()),
                   "recorded payload");
}

RunResult runHandler(const RunInput& input, kj::ArrayPtr<const capnp::word> state) {
  InputFacts facts;
  facts.endpoint = input.endpoint;
  facts.entityType = input.handler->entityType;
  facts.entityKey = input.entityKey;
  facts.inputId = idOr(input.envelope.getId());
  facts.correlationId = idOr(input.envelope.getCorrelationId());
  auto source = input.envelope.getSource();
  facts.inputSource = std::string_view(source.begin(), source.size());
  facts.recordedAtNs = input.recordedAtNs;
  Invocation invocation(facts);
  RunReader payload(input.payload);
  RunResult result;
  result.state =
      input.handler->apply(state, payload.root<capnp::AnyStruct>(), invocation.context());
  result.emitted = invocation.finish();
  return result;
}

RecordedRun::RecordedRun(const StateLoader& loader, store::Txn& txn, const store::Applied& applied,
                         const store::HistoryEntry& entry, const RegisteredHandler& handler,
                         std::string_view endpoint, std::string_view entityKey)
    : before_(loader.loadBefore(txn, applied)),
      recorded_(entry.input),
      input_{&handler,          endpoint, entityKey, recorded_.envelope(), recorded_.payloadWords(),
             entry.recordedAtNs} {}

RunResult rerunRecorded(const Handlers& handlers, const store::HistoryEntry& entry,
                        const store::EntityName& entity, std::uint64_t version,
                        kj::ArrayPtr<const capnp::word> state) {
  const RegisteredHandler* handler = handlers.findBySpec(entry.handlerId, entry.handlerVersion);
  if (handler == nullptr) {
    fail(ErrorKind::kPermanent, "cannot re-run " + entity.entityType + "/" + entity.key +
                                    " version " + std::to_string(version) +
                                    ": it was recorded by handler " + std::string(entry.handlerId) +
                                    " v" + std::to_string(entry.handlerVersion) +
                                    ", which is no longer registered");
  }
  RecordedInput recorded(entry.input);
  RunInput input{handler,
                 handlers.endpointName(),
                 entity.key,
                 recorded.envelope(),
                 recorded.payloadWords(),
                 entry.recordedAtNs};
  return runHandler(input, state);
}

}  // namespace idem::detail
