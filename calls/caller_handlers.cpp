// The calls endpoint's state machine (calls/caller_handlers.h).
#include "calls/caller_handlers.h"

#include <string>

#include "calls/call_records.capnp.h"
#include "idem/error.h"
#include "idem/http_call.h"

namespace idem::calls {

namespace {

using records::CallExchange;
using records::CallExchangeResult;
using records::CallState;
using records::Step;
using Stage = records::CallState::Stage;

std::string callKey(capnp::Data::Reader callId) {
  auto id = MessageId::fromBytes(std::span<const std::uint8_t>(callId.begin(), callId.size()));
  if (!id) {
    fail(ErrorKind::kPermanent, "a call id has 16 bytes, not " + std::to_string(callId.size()) +
                                    " (ask for calls with idem::call())");
  }
  return id->toHex();
}

void askExchange(CallState::Builder call, Step step, Context& ctx) {
  auto exchange = ctx.send<CallExchange>(kCallsRunnerQueue);
  exchange.setStep(step);
  exchange.setRequest(call.getRequest().asReader());
}

// Hands the outcome to the calling entity, as its HttpCallResult.
void deliver(CallState::Builder call, CallExchangeResult::Reader answer, Context& ctx) {
  auto request = call.getRequest().asReader();
  auto result = ctx.send<wire::HttpCallResult>(std::string(request.getReplyTo()));
  result.setCallId(request.getCallId());
  result.setTag(request.getTag());
  result.setEntityKey(request.getEntityKey());
  result.setOutcome(answer.getOutcome());
  result.setStatus(answer.getStatus());
  result.setContentType(answer.getContentType());
  result.setBody(answer.getBody());
  result.setHeaders(answer.getHeaders());
  call.setOutcome(answer.getOutcome());
  call.setStatus(answer.getStatus());
  call.setStage(Stage::DELIVERING);
}

void onCall(CallState::Builder call, wire::HttpCall::Reader request, Context& ctx) {
  if (call.getStage() != Stage::NEW) return;  // the same id asked again: one call
  call.setRequest(request);
  call.setStage(Stage::PUTTING);
  askExchange(call, Step::PUT, ctx);
}

void onAnswer(CallState::Builder call, CallExchangeResult::Reader answer, Context& ctx) {
  const Stage stage = call.getStage();
  const Step step = answer.getStep();
  if (step == Step::PUT && stage == Stage::PUTTING) {
    if (answer.getOutcome() == wire::HttpCallResult::Outcome::RESPONSE) {
      call.setStage(Stage::POSTING);
      askExchange(call, Step::POST, ctx);
    } else {
      deliver(call, answer, ctx);  // refused or expired before it ran
    }
  } else if (step == Step::POST && stage == Stage::POSTING) {
    deliver(call, answer, ctx);
  } else if (step == Step::DELETE && stage == Stage::DELETING) {
    call.setStage(Stage::DONE);
  }
}

void onDone(CallState::Builder call, wire::HttpCallDone::Reader, Context& ctx) {
  if (call.getStage() != Stage::DELIVERING) return;
  call.setStage(Stage::DELETING);
  askExchange(call, Step::DELETE, ctx);
}

}  // namespace

void registerCallerHandlers(Handlers& handlers) {
  handlers.entity<CallState>("call")
      .on<wire::HttpCall>(
          {"idem.calls.request", 1},
          [](wire::HttpCall::Reader r) { return callKey(r.getCallId()); }, onCall)
      .on<CallExchangeResult>(
          {"idem.calls.answer", 1},
          [](CallExchangeResult::Reader r) { return callKey(r.getCallId()); }, onAnswer)
      .on<wire::HttpCallDone>(
          {"idem.calls.done", 1},
          [](wire::HttpCallDone::Reader r) { return callKey(r.getCallId()); }, onDone);
  handlers.emits<wire::HttpCallResult>().emits<CallExchange>();
}

}  // namespace idem::calls
