// Orders: the process manager of one order.
//
//   notPlaced --PlaceOrder--> reserving --StockReserved--> awaitingPayment --PaymentReceived-->
//   shipping --Shipped--> shipped
//   reserving --StockUnavailable--> rejected
//   awaitingPayment --PaymentDeadline--> cancelled
#include "samples/orders/orders.h"

#include <idem/error.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace orders {

namespace {

std::int64_t nanosOf(idem::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::chrono::nanoseconds paymentWindow(Order::Reader order) {
  if (order.getPaymentWindowMs() == 0) return kDefaultPaymentWindow;
  return std::chrono::milliseconds(order.getPaymentWindowMs());
}

void placeOrder(Order::Builder order, PlaceOrder::Reader m, idem::Context& ctx) {
  if (m.getQuantity() == 0 || m.getAmount() <= 0) {
    idem::fail(idem::ErrorKind::kPermanent,
               "PlaceOrder " + std::string(m.getOrderId()) + " without quantity or amount");
  }
  if (order.getStep() != Order::Step::NOT_PLACED) return;  // placed before under this id
  order.setOrderId(m.getOrderId());
  order.setSku(m.getSku());
  order.setQuantity(m.getQuantity());
  order.setAmount(m.getAmount());
  order.setPaymentWindowMs(m.getPaymentWindowMs());
  order.setPlacedAt(nanosOf(ctx.now()));
  order.setStep(Order::Step::RESERVING);
  ReserveStock::Builder reserve = ctx.send<ReserveStock>(kInventory);
  reserve.setOrderId(m.getOrderId());
  reserve.setSku(m.getSku());
  reserve.setQuantity(m.getQuantity());
}

void stockReserved(Order::Builder order, StockReserved::Reader, idem::Context& ctx) {
  if (order.getStep() != Order::Step::RESERVING) return;
  order.setStep(Order::Step::AWAITING_PAYMENT);
  order.setPaymentDeadline(nanosOf(ctx.now() + paymentWindow(order)));
  RequestPayment::Builder request = ctx.send<RequestPayment>(kPayments);
  request.setOrderId(order.asReader().getOrderId());
  request.setAmount(order.getAmount());
  ctx.sendLater<PaymentDeadline>(kOrders, paymentWindow(order))
      .setOrderId(order.asReader().getOrderId());
}

void stockUnavailable(Order::Builder order, StockUnavailable::Reader m, idem::Context& ctx) {
  if (order.getStep() != Order::Step::RESERVING) return;
  order.setStep(Order::Step::REJECTED);
  OrderRejected::Builder rejected = ctx.publish<OrderRejected>();
  rejected.setOrderId(m.getOrderId());
  rejected.setAvailable(m.getAvailable());
}

void paymentReceived(Order::Builder order, PaymentReceived::Reader, idem::Context& ctx) {
  // After a cancellation, payments refunds the money when CancelPayment reaches it.
  if (order.getStep() != Order::Step::AWAITING_PAYMENT) return;
  order.setStep(Order::Step::SHIPPING);
  Order::Reader o = order.asReader();
  ShipOrder::Builder ship = ctx.send<ShipOrder>(kShipping);
  ship.setOrderId(o.getOrderId());
  ship.setSku(o.getSku());
  ship.setQuantity(o.getQuantity());
  CommitStock::Builder commit = ctx.send<CommitStock>(kInventory);
  commit.setOrderId(o.getOrderId());
  commit.setSku(o.getSku());
}

void paymentDeadline(Order::Builder order, PaymentDeadline::Reader, idem::Context& ctx) {
  if (order.getStep() != Order::Step::AWAITING_PAYMENT) return;  // paid in time
  order.setStep(Order::Step::CANCELLED);
  Order::Reader o = order.asReader();
  ReleaseStock::Builder release = ctx.send<ReleaseStock>(kInventory);
  release.setOrderId(o.getOrderId());
  release.setSku(o.getSku());
  ctx.send<CancelPayment>(kPayments).setOrderId(o.getOrderId());
  ctx.publish<OrderCancelled>().setOrderId(o.getOrderId());
}

void shipped(Order::Builder order, Shipped::Reader m, idem::Context& ctx) {
  if (order.getStep() != Order::Step::SHIPPING) return;
  order.setStep(Order::Step::SHIPPED);
  order.setTrackingId(m.getTrackingId());
  OrderShipped::Builder event = ctx.publish<OrderShipped>();
  event.setOrderId(m.getOrderId());
  event.setTrackingId(m.getTrackingId());
}

template <typename M>
std::string orderOf(typename M::Reader m) {
  return m.getOrderId();
}

}  // namespace

void registerOrders(idem::Handlers& handlers) {
  handlers.entity<Order>("order")
      .on<PlaceOrder>({"orders.place", 1}, orderOf<PlaceOrder>, placeOrder)
      .on<StockReserved>({"orders.stock-reserved", 1}, orderOf<StockReserved>, stockReserved)
      .on<StockUnavailable>({"orders.stock-unavailable", 1}, orderOf<StockUnavailable>,
                            stockUnavailable)
      .on<PaymentReceived>({"orders.payment-received", 1}, orderOf<PaymentReceived>,
                           paymentReceived)
      .on<PaymentDeadline>({"orders.payment-deadline", 1}, orderOf<PaymentDeadline>,
                           paymentDeadline)
      .on<Shipped>({"orders.shipped", 1}, orderOf<Shipped>, shipped);
}

}  // namespace orders
