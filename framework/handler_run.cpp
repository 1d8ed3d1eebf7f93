// HandlerRun: one deterministic run of a handler.
#include "framework/handler_run.h"

namespace idem::detail {

namespace {
MessageId idOr(capnp::Data::Reader data) {
  return MessageId::fromBytes({data.begin(), data.size()}).value_or(MessageId{});
}
}  // namespace

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
  RunResult result;
  result.state = input.handler->apply(state, input.payload, invocation.context());
  result.emitted = invocation.finish();
  return result;
}

}  // namespace idem::detail
