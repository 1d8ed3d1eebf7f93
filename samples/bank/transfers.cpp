// Transfers: the process manager of one money transfer. Hold on the source, credit the target,
// settle the hold; a refused credit is compensated by releasing the hold.
//
//   notStarted --StartTransfer--> holding --HoldPlaced--> crediting --Credited--> settling
//   holding --HoldRejected--> failed            settling --HoldSettled--> completed
//   crediting --CreditRejected--> compensating --HoldReleased--> compensated
#include <idem/error.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "samples/bank/bank.h"

namespace bank {

namespace {

std::int64_t nanosOf(idem::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void sendPlaceHold(Transfer::Reader t, idem::Context& ctx) {
  PlaceHold::Builder m = ctx.send<PlaceHold>(kAccounts);
  m.setTransferId(t.getTransferId());
  m.setAccountId(t.getFrom());
  m.setAmount(t.getAmount());
}

void finish(Transfer::Builder t, Transfer::Step step, RejectReason reason, idem::Context& ctx) {
  t.setStep(step);
  t.setReason(reason);
  t.setFinishedAt(nanosOf(ctx.now()));
  if (step == Transfer::Step::COMPLETED) {
    TransferCompleted::Builder e = ctx.publish<TransferCompleted>();
    e.setTransferId(t.getTransferId());
    e.setFrom(t.getFrom());
    e.setTo(t.getTo());
    e.setAmount(t.getAmount());
  } else if (step == Transfer::Step::FAILED) {
    TransferFailed::Builder e = ctx.publish<TransferFailed>();
    e.setTransferId(t.getTransferId());
    e.setFrom(t.getFrom());
    e.setReason(reason);
  } else {
    TransferCompensated::Builder e = ctx.publish<TransferCompensated>();
    e.setTransferId(t.getTransferId());
    e.setFrom(t.getFrom());
    e.setReason(reason);
  }
}

void start(Transfer::Builder t, StartTransfer::Reader m, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::NOT_STARTED) return;  // started before under this id
  t.setTransferId(m.getTransferId());
  t.setFrom(m.getFrom());
  t.setTo(m.getTo());
  t.setAmount(m.getAmount());
  t.setStartedAt(nanosOf(ctx.now()));
  if (m.getAmount() <= 0)
    return finish(t, Transfer::Step::FAILED, RejectReason::INVALID_AMOUNT, ctx);
  if (m.getFrom() == m.getTo())
    return finish(t, Transfer::Step::FAILED, RejectReason::SAME_ACCOUNT, ctx);
  t.setStep(Transfer::Step::HOLDING);
  sendPlaceHold(t, ctx);
}

// A caller that asked for an answer (a reply-to: the HTTP gateway) gets the acceptance after
// the transfer's own outputs. Inputs without one (idem send, the demos) emit exactly what they
// did before, so their recorded versions replay unchanged under the same handler version.
void startTransfer(Transfer::Builder t, StartTransfer::Reader m, idem::Context& ctx) {
  start(t, m, ctx);
  if (!ctx.canReply()) return;
  TransferAcceptance::Builder answer = ctx.reply<TransferAcceptance>();
  answer.setTransferId(m.getTransferId());
  const bool failed = t.getStep() == Transfer::Step::FAILED;
  answer.setAccepted(!failed);
  answer.setReason(failed ? t.getReason() : RejectReason::NONE);
  answer.setStep(t.getStep());
}

void holdPlaced(Transfer::Builder t, HoldPlaced::Reader, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::HOLDING) return;  // late or repeated answer
  t.setStep(Transfer::Step::CREDITING);
  Credit::Builder m = ctx.send<Credit>(kAccounts);
  m.setTransferId(t.getTransferId());
  m.setAccountId(t.getTo());
  m.setAmount(t.getAmount());
}

void holdRejected(Transfer::Builder t, HoldRejected::Reader m, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::HOLDING) return;
  finish(t, Transfer::Step::FAILED, m.getReason(), ctx);
}

void credited(Transfer::Builder t, Credited::Reader, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::CREDITING) return;
  t.setStep(Transfer::Step::SETTLING);
  SettleHold::Builder m = ctx.send<SettleHold>(kAccounts);
  m.setTransferId(t.getTransferId());
  m.setAccountId(t.getFrom());
}

void creditRejected(Transfer::Builder t, CreditRejected::Reader m, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::CREDITING) return;
  t.setStep(Transfer::Step::COMPENSATING);
  t.setReason(m.getReason());
  ReleaseHold::Builder release = ctx.send<ReleaseHold>(kAccounts);
  release.setTransferId(t.getTransferId());
  release.setAccountId(t.getFrom());
}

void holdSettled(Transfer::Builder t, HoldSettled::Reader, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::SETTLING) return;
  finish(t, Transfer::Step::COMPLETED, RejectReason::NONE, ctx);
}

void holdReleased(Transfer::Builder t, HoldReleased::Reader, idem::Context& ctx) {
  if (t.getStep() != Transfer::Step::COMPENSATING) return;
  finish(t, Transfer::Step::COMPENSATED, t.getReason(), ctx);
}

template <typename M>
std::string transferOf(typename M::Reader m) {
  return m.getTransferId();
}

}  // namespace

void registerTransfers(idem::Handlers& handlers) {
  handlers.emits<TransferAcceptance>();
  handlers.entity<Transfer>("transfer")
      .on<StartTransfer>({"bank.start-transfer", 1}, transferOf<StartTransfer>, startTransfer)
      .on<HoldPlaced>({"bank.transfer.hold-placed", 1}, transferOf<HoldPlaced>, holdPlaced)
      .on<HoldRejected>({"bank.transfer.hold-rejected", 1}, transferOf<HoldRejected>, holdRejected)
      .on<Credited>({"bank.transfer.credited", 1}, transferOf<Credited>, credited)
      .on<CreditRejected>({"bank.transfer.credit-rejected", 1}, transferOf<CreditRejected>,
                          creditRejected)
      .on<HoldSettled>({"bank.transfer.hold-settled", 1}, transferOf<HoldSettled>, holdSettled)
      .on<HoldReleased>({"bank.transfer.hold-released", 1}, transferOf<HoldReleased>, holdReleased);
}

}  // namespace bank
