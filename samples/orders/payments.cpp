// Payments: the payment of one order, where the customer's payment and the order's cancellation
// meet; whichever comes second decides, so money is either kept for a live order or refunded.
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

void payOrder(Payment::Builder payment, PayOrder::Reader m, idem::Context& ctx) {
  using Status = Payment::Status;
  Payment::Reader p = payment.asReader();
  auto reject = [&](PaymentRejected::Reason reason) {
    PaymentRejected::Builder rejected = ctx.publish<PaymentRejected>();
    rejected.setOrderId(m.getOrderId());
    rejected.setPaymentRef(m.getPaymentRef());
    rejected.setReason(reason);
  };
  switch (p.getStatus()) {
    case Status::NONE:
      return reject(PaymentRejected::Reason::UNKNOWN_ORDER);
    case Status::REQUESTED: {
      if (m.getAmount() != p.getAmount()) return reject(PaymentRejected::Reason::WRONG_AMOUNT);
      payment.setStatus(Status::PAID);
      payment.setPaymentRef(m.getPaymentRef());
      PaymentReceived::Builder received = ctx.send<PaymentReceived>(kOrders);
      received.setOrderId(m.getOrderId());
      received.setAmount(m.getAmount());
      return;
    }
    case Status::CANCELLED:  // paid too late: the order is gone, the money goes back
      payment.setStatus(Status::REFUNDED);
      payment.setPaymentRef(m.getPaymentRef());
      return publishRefund(p, m.getPaymentRef(), m.getAmount(), ctx);
    case Status::PAID:
    case Status::REFUNDED:
      if (m.getPaymentRef() == p.getPaymentRef()) return;  // the same payment, submitted again
      return publishRefund(p, m.getPaymentRef(), m.getAmount(), ctx);  // a second payment
  }
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
      .on<CancelPayment>({"payments.cancel", 1}, orderOf<CancelPayment>, cancelPayment);
}

}  // namespace orders
