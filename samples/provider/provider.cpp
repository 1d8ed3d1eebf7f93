// The payment provider: one decision per order, replied to every Charge of it.
#include "samples/provider/provider.h"

#include <string>

namespace provider {

namespace {

void charge(CardCharge::Builder state, Charge::Reader m, idem::Context& ctx) {
  state.setRequests(state.getRequests() + 1);
  if (state.getOrderId().size() == 0) {  // the first Charge of this order decides
    state.setOrderId(m.getOrderId());
    state.setAmount(m.getAmount());
    state.setApproved(m.getAmount() > 0 && m.getAmount() <= kCardLimit);
    if (state.getApproved()) state.setChargeId("ch_" + ctx.newId().toHex().substr(20));
  }
  const CardCharge::Reader decided = state.asReader();
  ChargeReply::Builder reply = ctx.reply<ChargeReply>();
  reply.setOrderId(decided.getOrderId());
  reply.setApproved(decided.getApproved());
  reply.setChargeId(decided.getChargeId());
}

}  // namespace

void registerProvider(idem::Handlers& handlers) {
  handlers.entity<CardCharge>("charge").on<Charge>(
      {"provider.charge", 1}, [](Charge::Reader m) { return std::string(m.getOrderId()); }, charge);
  handlers.emits<ChargeReply>();
}

}  // namespace provider
