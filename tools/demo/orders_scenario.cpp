// OrdersScenario: the workload is a pure function of the seed; the checks read the four stores.
#include "tools/demo/orders_scenario.h"

#include <algorithm>
#include <cstdio>

#include "idem/envelope.capnp.h"
#include "samples/orders/orders.h"
#include "tools/apps.h"
#include "tools/demo/demo_edge.h"
#include "tools/demo/rng.h"

namespace idem::tools::demo {

namespace {

std::string numbered(const char* prefix, std::uint64_t i) {
  char text[32];
  std::snprintf(text, sizeof text, "%s-%05llu", prefix, static_cast<unsigned long long>(i));
  return text;
}

void noteExample(std::string& examples, int& count, const std::string& what) {
  if (count++ < 3) examples += (examples.empty() ? "" : "; ") + what;
}

bool isFinal(orders::Order::Step step) {
  using Step = orders::Order::Step;
  return step == Step::SHIPPED || step == Step::CANCELLED || step == Step::REJECTED;
}

}  // namespace

OrdersScenario::OrdersScenario(const DemoOptions& options, const Workspace& workspace) {
  Rng rng(options.seed);
  const std::uint64_t count = std::max<std::uint64_t>(options.orders, 1);
  const std::uint64_t skus = std::max<std::uint64_t>(3, count / 50);
  std::vector<std::string> skuNames;
  for (std::uint64_t i = 0; i < skus; ++i) skuNames.push_back(numbered("sku", i));
  for (std::uint64_t i = 0; i < count; ++i) {
    Order o{numbered("o", i), skuNames[rng.below(skus)],
            static_cast<std::uint32_t>(rng.between(1, 5)), 0, Order::Pays::kNever};
    const auto payer = rng.below(100);  // 80% pay in time, 5% too late, 15% never
    o.pays =
        payer < 80 ? Order::Pays::kInTime : (payer < 85 ? Order::Pays::kLate : Order::Pays::kNever);
    o.amount = o.quantity * rng.between(500, 5'000);
    orderIndex_[o.id] = orders_.size();
    orders_.push_back(std::move(o));
  }
  // About 80% of the average demand per sku: some orders find no stock.
  const auto perSku =
      static_cast<std::uint32_t>(std::max<std::uint64_t>(1, count * 3 * 8 / 10 / skus));
  for (const std::string& sku : skuNames) stock_[sku] = perSku;
  const App& app = findApp("orders");
  for (const char* endpoint :
       {orders::kOrders, orders::kInventory, orders::kPayments, orders::kShipping}) {
    stores_[endpoint] =
        std::make_unique<StoreView>(workspace.store(endpoint), app.handlers(endpoint));
  }
}

const StoreView& OrdersScenario::storeOf(const std::string& endpoint) const {
  return *stores_.at(endpoint);
}

std::vector<ProcessSpec> OrdersScenario::processes() const {
  return {{"orders", {orders::kOrders}},
          {"inventory", {orders::kInventory}},
          {"payments", {orders::kPayments}},
          {"shipping", {orders::kShipping}}};
}

std::vector<std::vector<Outbound>> OrdersScenario::setupPhases(TimePoint now) {
  std::vector<Outbound> add;
  for (const auto& [sku, units] : stock_) {
    add.push_back(demoMessage<orders::AddStock>("orders/stock/" + sku, orders::kInventory, now,
                                                [&](orders::AddStock::Builder m) {
                                                  m.setSku(sku);
                                                  m.setQuantity(units);
                                                }));
  }
  return {std::move(add)};
}

Outbound OrdersScenario::workItem(std::size_t index, TimePoint now) {
  const Order& o = orders_.at(index);
  return demoMessage<orders::PlaceOrder>("orders/place/" + o.id, orders::kOrders, now,
                                         [&](orders::PlaceOrder::Builder m) {
                                           m.setOrderId(o.id);
                                           m.setSku(o.sku);
                                           m.setQuantity(o.quantity);
                                           m.setAmount(o.amount);
                                           m.setPaymentWindowMs(kPaymentWindowMs);
                                         });
}

Outbound OrdersScenario::payment(const Order& o, TimePoint now) const {
  return demoMessage<orders::PayOrder>("orders/pay/" + o.id, orders::kPayments, now,
                                       [&](orders::PayOrder::Builder m) {
                                         m.setOrderId(o.id);
                                         m.setAmount(o.amount);
                                         m.setPaymentRef("pay-" + o.id);
                                       });
}

bool OrdersScenario::applied(const Outbound& message) const {
  return storeOf(message.destination).applied(message.id);
}

std::uint64_t OrdersScenario::ended() {
  std::uint64_t n = 0;
  storeOf(orders::kOrders).forEach<orders::Order>("order", [&](const std::string& key, auto o) {
    if (!isFinal(o.getStep())) return;
    auto it = orderIndex_.find(key);
    if (o.getStep() == orders::Order::Step::CANCELLED && it != orderIndex_.end() &&
        orders_[it->second].pays == Order::Pays::kLate &&
        !storeOf(orders::kPayments).applied(payment(orders_[it->second], {}).id)) {
      return;  // the late payment is still to come
    }
    ++n;
  });
  return n;
}

std::vector<Outbound> OrdersScenario::followUps(TimePoint now) {
  std::vector<Outbound> out;
  using Status = orders::Payment::Status;
  storeOf(orders::kPayments)
      .forEach<orders::Payment>("payment", [&](const std::string& key, auto p) {
        auto it = orderIndex_.find(key);
        if (it == orderIndex_.end() || payments_.count(key) != 0) return;
        const Order& o = orders_[it->second];
        if ((o.pays == Order::Pays::kInTime && p.getStatus() == Status::REQUESTED) ||
            (o.pays == Order::Pays::kLate && p.getStatus() == Status::CANCELLED)) {
          out.push_back(payment(o, now));
          payments_.insert(key);
        }
      });
  return out;
}

std::vector<Invariant> OrdersScenario::check() {
  struct OrderSeen {
    orders::Order::Step step = orders::Order::Step::NOT_PLACED;
    std::string trackingId;
  };
  std::map<std::string, OrderSeen> seen;
  storeOf(orders::kOrders).forEach<orders::Order>("order", [&](const std::string& key, auto o) {
    seen[key] = {o.getStep(), o.getTrackingId()};
  });
  struct StockSeen {
    std::uint64_t available = 0, reserved = 0, reservations = 0, shipped = 0;
  };
  std::map<std::string, StockSeen> stock;
  storeOf(orders::kInventory).forEach<orders::Stock>("stock", [&](const std::string& key, auto s) {
    StockSeen& x = stock[key];
    x.available = s.getAvailable();
    x.shipped = s.getShipped();
    for (auto r : s.getReservations()) x.reserved += r.getQuantity();
    x.reservations = s.getReservations().size();
  });
  std::map<std::string, orders::Payment::Status> payments;
  storeOf(orders::kPayments)
      .forEach<orders::Payment>(
          "payment", [&](const std::string& key, auto p) { payments[key] = p.getStatus(); });
  std::map<std::string, std::string> shipments;
  storeOf(orders::kShipping)
      .forEach<orders::Shipment>(
          "shipment", [&](const std::string& key, auto s) { shipments[key] = s.getTrackingId(); });

  using Step = orders::Order::Step;
  using Status = orders::Payment::Status;
  int notEnded = 0, inconsistent = 0, unrefunded = 0;
  std::string endedExamples, inconsistentExamples, refundExamples;
  std::map<std::string, std::uint64_t> shippedUnits;
  std::uint64_t paidCancelled = 0;
  for (const Order& o : orders_) {
    auto it = seen.find(o.id);
    if (it == seen.end() || !isFinal(it->second.step)) {
      noteExample(endedExamples, notEnded, o.id);
      continue;
    }
    const Step step = it->second.step;
    auto pay = payments.find(o.id);
    const Status status = pay == payments.end() ? Status::NONE : pay->second;
    auto ship = shipments.find(o.id);
    bool ok = true;
    if (step == Step::SHIPPED) {
      shippedUnits[o.sku] += o.quantity;
      ok = status == Status::PAID && ship != shipments.end() &&
           ship->second == it->second.trackingId && !ship->second.empty();
    } else if (step == Step::CANCELLED) {
      ok = ship == shipments.end() && (status == Status::CANCELLED || status == Status::REFUNDED);
      const bool paid = storeOf(orders::kPayments).applied(payment(o, {}).id);
      if (paid) ++paidCancelled;
      if (paid && status != Status::REFUNDED) {
        noteExample(refundExamples, unrefunded, o.id + " paid but not refunded");
      }
    } else {  // rejected: never reserved, so never asked for payment
      ok = ship == shipments.end() && status == Status::NONE;
    }
    if (!ok) noteExample(inconsistentExamples, inconsistent, o.id);
  }
  std::uint64_t added = 0, accounted = 0, reservationsLeft = 0;
  int wrongShipped = 0;
  std::string shippedExamples;
  for (const auto& [sku, units] : stock_) {
    added += units;
    const StockSeen& s = stock[sku];
    accounted += s.available + s.reserved + s.shipped;
    reservationsLeft += s.reservations;
    if (s.shipped != shippedUnits[sku]) {
      noteExample(shippedExamples, wrongShipped,
                  sku + " shipped " + std::to_string(s.shipped) + ", orders shipped " +
                      std::to_string(shippedUnits[sku]));
    }
  }
  std::vector<Invariant> out;
  out.push_back({"every order ended", notEnded == 0,
                 std::to_string(orders_.size() - notEnded) + " of " +
                     std::to_string(orders_.size()) + " shipped, cancelled or rejected" +
                     (notEnded ? "; not ended: " + endedExamples : "")});
  out.push_back({"every order ended exactly once, its effects agreeing", inconsistent == 0,
                 std::to_string(inconsistent) +
                     " orders whose payment or shipment contradicts their end" +
                     (inconsistent ? ": " + inconsistentExamples : "")});
  out.push_back({"stock conserved", accounted == added,
                 "available + reserved + shipped = " + std::to_string(accounted) +
                     " units, added " + std::to_string(added)});
  out.push_back({"every ended order's stock released or shipped", reservationsLeft == 0,
                 std::to_string(reservationsLeft) + " reservations left"});
  out.push_back({"shipped stock = units of shipped orders", wrongShipped == 0,
                 std::to_string(wrongShipped) + " skus differ" +
                     (wrongShipped ? ": " + shippedExamples : "")});
  out.push_back({"payments of cancelled orders refunded", unrefunded == 0,
                 std::to_string(paidCancelled) + " cancelled orders were paid, " +
                     std::to_string(unrefunded) + " of them not refunded" +
                     (unrefunded ? ": " + refundExamples : "")});
  return out;
}

std::vector<std::int64_t> OrdersScenario::latencies() {
  std::vector<std::int64_t> out;
  const StoreView& store = storeOf(orders::kOrders);
  for (const Order& o : orders_) {
    std::int64_t placed = 0, ended = 0;
    store.forEachVersion("order", o.id, [&](std::uint64_t v, const store::HistoryEntry& entry) {
      if (v == 1) {
        CanonicalReader reader(entry.input, "recorded input envelope");
        placed = reader.root<wire::Envelope>().getRecordedAt();
      }
      const std::string_view handler = entry.handlerId;
      if (ended == 0 && entry.stateChanged &&
          (handler == "orders.shipped" || handler == "orders.payment-deadline" ||
           handler == "orders.stock-unavailable")) {
        ended = entry.recordedAtNs;
      }
    });
    if (placed != 0 && ended != 0) out.push_back(ended - placed);
  }
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> OrdersScenario::outcomes() {
  std::uint64_t shipped = 0, cancelled = 0, rejected = 0, refunded = 0;
  storeOf(orders::kOrders).forEach<orders::Order>("order", [&](const std::string&, auto o) {
    shipped += o.getStep() == orders::Order::Step::SHIPPED;
    cancelled += o.getStep() == orders::Order::Step::CANCELLED;
    rejected += o.getStep() == orders::Order::Step::REJECTED;
  });
  storeOf(orders::kPayments).forEach<orders::Payment>("payment", [&](const std::string&, auto p) {
    refunded += p.getStatus() == orders::Payment::Status::REFUNDED;
  });
  return {{"shipped", shipped},
          {"cancelled (unpaid at the deadline)", cancelled},
          {"rejected (no stock)", rejected},
          {"payments refunded", refunded}};
}

}  // namespace idem::tools::demo
