// Payments: the payment of one order, where the customer's payment and the order's cancellation
// meet; whichever comes second decides, so money is either kept for a live order or refunded.
#include <idem/http_call.h>

#include <nlohmann/json.hpp>
#include <string>

#include "samples/orders/orders.h"

namespace orders {

namespace {

void publishRefund(Payment::Reader payment, capnp::Text::Reader paymentRef, std::int64_t amount,
                   idem::Context& ctx) {
  PaymentRefunded::Builder refund = ctx.publish<PaymentRefunded>();
  refund.setOrderId(payment.getOrderId());
  refund.setPaymentRef(paymentRef);
  refund.setAmount(amount);
}

void requestPayment(Payment::Builder payment, RequestPayment::Reader m, idem::Context&) {
  // Anything but `none` means requested before, or cancelled before the request arrived.
  if (payment.getStatus() != Payment::Status::NONE) return;
  payment.setOrderId(m.getOrderId());
  payment.setAmount(m.getAmount());
  payment.setStatus(Payment::Status::REQUESTED);
}

void reject(capnp::Text::Reader orderId, capnp::Text::Reader paymentRef,
            PaymentRejected::Reason reason, idem::Context& ctx) {
  PaymentRejected::Builder rejected = ctx.publish<PaymentRejected>();
  rejected.setOrderId(orderId);
  rejected.setPaymentRef(paymentRef);
  rejected.setReason(reason);
}

// A payment of `amount` under `paymentRef` (the customer's, or the provider's charge id).
void applyPayment(Payment::Builder payment, capnp::Text::Reader orderId, std::int64_t amount,
                  capnp::Text::Reader paymentRef, idem::Context& ctx) {
  using Status = Payment::Status;
  Payment::Reader p = payment.asReader();
  switch (p.getStatus()) {
    case Status::NONE:
      return reject(orderId, paymentRef, PaymentRejected::Reason::UNKNOWN_ORDER, ctx);
    case Status::REQUESTED: {
      if (amount != p.getAmount()) {
        return reject(orderId, paymentRef, PaymentRejected::Reason::WRONG_AMOUNT, ctx);
      }
      payment.setStatus(Status::PAID);
      payment.setPaymentRef(paymentRef);
      PaymentReceived::Builder received = ctx.send<PaymentReceived>(kOrders);
      received.setOrderId(orderId);
      received.setAmount(amount);
      return;
    }
    case Status::CANCELLED:  // paid too late: the order is gone, the money goes back
      payment.setStatus(Status::REFUNDED);
      payment.setPaymentRef(paymentRef);
      return publishRefund(p, paymentRef, amount, ctx);
    case Status::PAID:
    case Status::REFUNDED:
      if (paymentRef == p.getPaymentRef()) return;       // the same payment, submitted again
      return publishRefund(p, paymentRef, amount, ctx);  // a second payment
  }
}

void payOrder(Payment::Builder payment, PayOrder::Reader m, idem::Context& ctx) {
  applyPayment(payment, m.getOrderId(), m.getAmount(), m.getPaymentRef(), ctx);
}

void payByCard(Payment::Builder payment, PayByCard::Reader m, idem::Context& ctx) {
  Payment::Reader p = payment.asReader();
  if (p.getStatus() == Payment::Status::NONE) {
    return reject(m.getOrderId(), "", PaymentRejected::Reason::UNKNOWN_ORDER, ctx);
  }
  if (p.getStatus() != Payment::Status::REQUESTED || p.getCharging()) return;  // paid, or asked
  if (m.getAmount() != p.getAmount()) {
    return reject(m.getOrderId(), "", PaymentRejected::Reason::WRONG_AMOUNT, ctx);
  }
  payment.setCharging(true);
  const std::string body = nlohmann::json{{"orderId", std::string(m.getOrderId())},
                                          {"amount", std::to_string(m.getAmount())}}
                               .dump();
  idem::call(ctx, kProviderService, kChargePath, "charge")
      .setBody(kj::arrayPtr(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
}

// The provider's answer to a PayByCard's call: {"orderId","approved","chargeId"} as JSON when it
// ran the charge; anything else (declined, refused, expired) rejects the card payment.
void charged(Payment::Builder payment, idem::wire::HttpCallResult::Reader r, idem::Context& ctx) {
  payment.setCharging(false);
  const Payment::Reader p = payment.asReader();
  nlohmann::json reply;
  if (r.getOutcome() == idem::wire::HttpCallResult::Outcome::RESPONSE && r.getStatus() == 200) {
    auto body = r.getBody();
    reply = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  }
  // Read defensively: a reply of another shape is a decline, never a failing handler.
  const bool approved = reply.is_object() && reply.contains("approved") &&
                        reply["approved"].is_boolean() && reply["approved"].get<bool>() &&
                        reply.contains("chargeId") && reply["chargeId"].is_string();
  if (approved) {
    const std::string chargeId = reply["chargeId"].get<std::string>();
    return applyPayment(payment, p.getOrderId(), p.getAmount(), chargeId, ctx);
  }
  reject(p.getOrderId(), "", PaymentRejected::Reason::CARD_DECLINED, ctx);
}

void cancelPayment(Payment::Builder payment, CancelPayment::Reader m, idem::Context& ctx) {
  using Status = Payment::Status;
  switch (payment.getStatus()) {
    case Status::NONE:  // arrived before its RequestPayment, which will then be ignored
    case Status::REQUESTED:
      payment.setOrderId(m.getOrderId());
      payment.setStatus(Status::CANCELLED);
      return;
    case Status::PAID:  // paid while the deadline fired: the order is cancelled, so refund
      payment.setStatus(Status::REFUNDED);
      return publishRefund(payment, payment.asReader().getPaymentRef(), payment.getAmount(), ctx);
    case Status::CANCELLED:
    case Status::REFUNDED:
      return;
  }
}

template <typename M>
std::string orderOf(typename M::Reader m) {
  return m.getOrderId();
}

}  // namespace

void registerPayments(idem::Handlers& handlers) {
  handlers.entity<Payment>("payment")
      .on<RequestPayment>({"payments.request", 1}, orderOf<RequestPayment>, requestPayment)
      .on<PayOrder>({"payments.pay", 1}, orderOf<PayOrder>, payOrder)
      .on<CancelPayment>({"payments.cancel", 1}, orderOf<CancelPayment>, cancelPayment)
      .on<PayByCard>({"payments.card", 1}, orderOf<PayByCard>, payByCard);
  idem::onCallResult(handlers.entity<Payment>("payment"), {"payments.charged", 1}, charged);
}

}  // namespace orders
