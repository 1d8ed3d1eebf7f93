// Handler-level tests of the orders sample: orders, inventory, payments and shipping.
#include "samples/orders/orders.h"

#include <idem/testing.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

namespace {

using idem::testing::Harness;
using idem::testing::Output;
using idem::testing::Run;

std::int64_t nanos(idem::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct Shop {
  idem::Handlers orders{orders::kOrders};
  idem::Handlers inventory{orders::kInventory};
  idem::Handlers payments{orders::kPayments};
  idem::Handlers shipping{orders::kShipping};
  Harness h{{&orders, &inventory, &payments, &shipping}};

  Shop() {
    orders::registerOrders(orders);
    orders::registerInventory(inventory);
    orders::registerPayments(payments);
    orders::registerShipping(shipping);
    h.send<orders::AddStock>(orders::kInventory, [](orders::AddStock::Builder m) {
      m.setSku("mug");
      m.setQuantity(10);
    });
  }

  // Places order `id` for 3 mugs at 24.00 with a one-minute payment window and delivers the
  // reservation; returns the run that requested the payment and scheduled the deadline.
  Run placeAndReserve(const char* id, std::uint32_t quantity = 3) {
    Run placed = h.send<orders::PlaceOrder>(orders::kOrders, [&](orders::PlaceOrder::Builder m) {
      m.setOrderId(id);
      m.setSku("mug");
      m.setQuantity(quantity);
      m.setAmount(24'00);
      m.setPaymentWindowMs(60'000);
    });
    Run reserved = h.deliver(placed.only<orders::ReserveStock>());
    return h.deliver(reserved.outputs.at(0));
  }
  Run pay(const char* id, std::int64_t amount, const char* ref) {
    return h.send<orders::PayOrder>(orders::kPayments, [&](orders::PayOrder::Builder m) {
      m.setOrderId(id);
      m.setAmount(amount);
      m.setPaymentRef(ref);
    });
  }
  orders::Order::Reader order(const char* id) {
    return h.state<orders::Order>(orders::kOrders, "order", id);
  }
  orders::Stock::Reader mugs() {
    return h.state<orders::Stock>(orders::kInventory, "stock", "mug");
  }
  orders::Payment::Reader payment(const char* id) {
    return h.state<orders::Payment>(orders::kPayments, "payment", id);
  }
};

}  // namespace

TEST_CASE("a paid order is shipped and its reserved stock leaves the inventory",
          "[samples][orders]") {
  Shop s;
  Run awaiting = s.placeAndReserve("o1");
  CHECK(s.order("o1").getStep() == orders::Order::Step::AWAITING_PAYMENT);
  CHECK(s.mugs().getAvailable() == 7);
  REQUIRE(s.mugs().getReservations().size() == 1);

  const Output& deadline = awaiting.only<orders::PaymentDeadline>();
  CHECK(deadline.destination == orders::kOrders);
  CHECK(nanos(deadline.deliverAt) == s.order("o1").getPaymentDeadline());
  CHECK(s.order("o1").getPaymentDeadline() - s.order("o1").getPlacedAt() >=
        std::chrono::nanoseconds(std::chrono::minutes(1)).count());
  s.h.deliver(awaiting.only<orders::RequestPayment>());

  Run paid = s.pay("o1", 24'00, "card-1");
  CHECK(s.payment("o1").getStatus() == orders::Payment::Status::PAID);
  Run shipping = s.h.deliver(paid.only<orders::PaymentReceived>());
  CHECK(s.order("o1").getStep() == orders::Order::Step::SHIPPING);
  s.h.deliver(shipping.only<orders::CommitStock>());
  CHECK(s.mugs().getReservations().size() == 0);
  CHECK(s.mugs().getShipped() == 3);
  CHECK(s.mugs().getAvailable() == 7);

  Run shipped = s.h.deliver(shipping.only<orders::ShipOrder>());
  std::string tracking = shipped.only<orders::Shipped>().as<orders::Shipped>().getTrackingId();
  CHECK(tracking.size() == 32);
  Run done = s.h.deliver(shipped.only<orders::Shipped>());
  CHECK(s.order("o1").getStep() == orders::Order::Step::SHIPPED);
  CHECK(done.only<orders::OrderShipped>().as<orders::OrderShipped>().getTrackingId() == tracking);

  SECTION("and the deadline, arriving after the payment, changes nothing") {
    s.h.advance(std::chrono::minutes(2));
    CHECK(s.h.deliver(deadline).outputs.empty());
    CHECK(s.order("o1").getStep() == orders::Order::Step::SHIPPED);
  }
}

TEST_CASE("an order unpaid at its deadline is cancelled and its stock released",
          "[samples][orders]") {
  Shop s;
  Run awaiting = s.placeAndReserve("o1");
  s.h.deliver(awaiting.only<orders::RequestPayment>());

  Run cancelled = s.h.deliver(awaiting.only<orders::PaymentDeadline>());
  CHECK(s.order("o1").getStep() == orders::Order::Step::CANCELLED);
  CHECK(cancelled.only<orders::OrderCancelled>().destination.empty());
  s.h.deliver(cancelled.only<orders::ReleaseStock>());
  CHECK(s.mugs().getAvailable() == 10);
  CHECK(s.mugs().getReservations().size() == 0);
  s.h.deliver(cancelled.only<orders::CancelPayment>());
  CHECK(s.payment("o1").getStatus() == orders::Payment::Status::CANCELLED);

  SECTION("a payment after the cancellation is refunded and nothing ships") {
    Run late = s.pay("o1", 24'00, "card-1");
    REQUIRE(late.outputs.size() == 1);
    auto refund = late.only<orders::PaymentRefunded>().as<orders::PaymentRefunded>();
    CHECK(refund.getPaymentRef() == "card-1");
    CHECK(refund.getAmount() == 24'00);
    CHECK(s.payment("o1").getStatus() == orders::Payment::Status::REFUNDED);
    CHECK(s.pay("o1", 24'00, "card-1").outputs.empty());  // submitted again: refunded once
  }
  SECTION("a repeated ReleaseStock does not release twice") {
    Output again = cancelled.only<orders::ReleaseStock>();  // sent again, under another id
    again.id = idem::MessageId::forEdge("test", "ReleaseStock again");
    s.h.deliver(again);
    CHECK(s.mugs().getAvailable() == 10);
  }
}

TEST_CASE("a payment racing the deadline is refunded once the cancellation reaches payments",
          "[samples][orders]") {
  Shop s;
  Run awaiting = s.placeAndReserve("o1");
  s.h.deliver(awaiting.only<orders::RequestPayment>());
  Run paid = s.pay("o1", 24'00, "card-1");  // PaymentReceived is on its way to orders...
  Run cancelled = s.h.deliver(awaiting.only<orders::PaymentDeadline>());  // ...but loses

  CHECK(s.h.deliver(paid.only<orders::PaymentReceived>()).outputs.empty());
  CHECK(s.order("o1").getStep() == orders::Order::Step::CANCELLED);
  Run refunded = s.h.deliver(cancelled.only<orders::CancelPayment>());
  CHECK(refunded.only<orders::PaymentRefunded>().as<orders::PaymentRefunded>().getAmount() ==
        24'00);
  CHECK(s.payment("o1").getStatus() == orders::Payment::Status::REFUNDED);
}

TEST_CASE("payments refuse a payment for an unknown order or of the wrong amount",
          "[samples][orders]") {
  Shop s;
  CHECK(s.pay("nope", 1'00, "card-1")
            .only<orders::PaymentRejected>()
            .as<orders::PaymentRejected>()
            .getReason() == orders::PaymentRejected::Reason::UNKNOWN_ORDER);
  Run awaiting = s.placeAndReserve("o1");
  s.h.deliver(awaiting.only<orders::RequestPayment>());
  CHECK(s.pay("o1", 1'00, "card-2")
            .only<orders::PaymentRejected>()
            .as<orders::PaymentRejected>()
            .getReason() == orders::PaymentRejected::Reason::WRONG_AMOUNT);
  CHECK(s.payment("o1").getStatus() == orders::Payment::Status::REQUESTED);
}

TEST_CASE("an order for more than the available stock is rejected", "[samples][orders]") {
  Shop s;
  Run placed = s.h.send<orders::PlaceOrder>(orders::kOrders, [](orders::PlaceOrder::Builder m) {
    m.setOrderId("big");
    m.setSku("mug");
    m.setQuantity(11);
    m.setAmount(88'00);
  });
  Run refused = s.h.deliver(placed.only<orders::ReserveStock>());
  CHECK(refused.only<orders::StockUnavailable>().as<orders::StockUnavailable>().getAvailable() ==
        10);
  Run rejected = s.h.deliver(refused.only<orders::StockUnavailable>());
  CHECK(s.order("big").getStep() == orders::Order::Step::REJECTED);
  CHECK(rejected.only<orders::OrderRejected>().destination.empty());
  CHECK(s.mugs().getAvailable() == 10);
}

TEST_CASE("an order without a payment window waits the default fifteen minutes",
          "[samples][orders]") {
  Shop s;
  Run placed = s.h.send<orders::PlaceOrder>(orders::kOrders, [](orders::PlaceOrder::Builder m) {
    m.setOrderId("o1");
    m.setSku("mug");
    m.setQuantity(1);
    m.setAmount(8'00);
  });
  Run awaiting = s.h.deliver(s.h.deliver(placed.outputs.at(0)).outputs.at(0));
  auto order = s.order("o1");
  CHECK(order.getPaymentDeadline() == nanos(awaiting.only<orders::PaymentDeadline>().deliverAt));
  CHECK(nanos(awaiting.only<orders::PaymentDeadline>().deliverAt) - nanos(s.h.now()) >
        std::chrono::nanoseconds(std::chrono::minutes(14)).count());
}

TEST_CASE("shipping the same order twice gives the same tracking id", "[samples][orders]") {
  Shop s;
  auto ship = [&] {
    return s.h.send<orders::ShipOrder>(orders::kShipping,
                                       [](orders::ShipOrder::Builder m) {
                                         m.setOrderId("o1");
                                         m.setSku("mug");
                                         m.setQuantity(1);
                                       },
                                       {.source = orders::kOrders});
  };
  Run first = ship();
  Run second = ship();
  CHECK(first.outputs.at(0).payload.bytes() == second.outputs.at(0).payload.bytes());
}
