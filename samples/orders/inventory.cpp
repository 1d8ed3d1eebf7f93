// Inventory: stock per sku, reserved for orders until they ship (commit) or are cancelled
// (release). Invariant: available + sum(reservations) + shipped = units ever added.
#include <idem/lists.h>

#include <string>

#include "samples/orders/orders.h"

namespace orders {

namespace {

constexpr auto kReservations =
    idem::listField(&Stock::Builder::disownReservations, &Stock::Builder::adoptReservations);
constexpr auto kFinished =
    idem::listField(&Stock::Builder::disownFinished, &Stock::Builder::adoptFinished);

bool isFinished(Stock::Reader stock, capnp::Text::Reader orderId) {
  for (capnp::Text::Reader id : stock.getFinished()) {
    if (id == orderId) return true;
  }
  return false;
}

void addStock(Stock::Builder stock, AddStock::Reader m, idem::Context&) {
  stock.setSku(m.getSku());
  stock.setAvailable(stock.getAvailable() + m.getQuantity());
}

void reserveStock(Stock::Builder stock, ReserveStock::Reader m, idem::Context& ctx) {
  const auto id = m.getOrderId();
  // A repeat for an order whose reservation ended (or was refused) is late: it gets no answer.
  if (isFinished(stock, id)) return;
  bool reserved = false;
  for (Reservation::Reader r : stock.asReader().getReservations()) reserved |= r.getOrderId() == id;
  if (!reserved && stock.getAvailable() < m.getQuantity()) {
    idem::append(stock, kFinished, id);
    StockUnavailable::Builder answer = ctx.reply<StockUnavailable>();
    answer.setOrderId(id);
    answer.setSku(m.getSku());
    answer.setAvailable(stock.getAvailable());
    return;
  }
  if (!reserved) {
    stock.setSku(m.getSku());
    stock.setAvailable(stock.getAvailable() - m.getQuantity());
    Reservation::Builder r = idem::append(stock, kReservations);
    r.setOrderId(id);
    r.setQuantity(m.getQuantity());
  }
  StockReserved::Builder answer = ctx.reply<StockReserved>();
  answer.setOrderId(id);
  answer.setSku(m.getSku());
  answer.setQuantity(m.getQuantity());
}

// Ends the reservation of `orderId`; returns its quantity, 0 when there was none.
std::uint32_t endReservation(Stock::Builder stock, capnp::Text::Reader orderId) {
  std::uint32_t quantity = 0;
  for (Reservation::Reader r : stock.asReader().getReservations()) {
    if (r.getOrderId() == orderId) quantity += r.getQuantity();
  }
  idem::removeIf(stock, kReservations,
                 [&](Reservation::Reader r) { return r.getOrderId() == orderId; });
  if (!isFinished(stock, orderId)) idem::append(stock, kFinished, orderId);
  return quantity;
}

void releaseStock(Stock::Builder stock, ReleaseStock::Reader m, idem::Context&) {
  stock.setAvailable(stock.getAvailable() + endReservation(stock, m.getOrderId()));
}

void commitStock(Stock::Builder stock, CommitStock::Reader m, idem::Context&) {
  stock.setShipped(stock.getShipped() + endReservation(stock, m.getOrderId()));
}

}  // namespace

void registerInventory(idem::Handlers& handlers) {
  handlers.entity<Stock>("stock")
      .on<AddStock>(
          {"inventory.add", 1}, [](AddStock::Reader m) { return m.getSku(); }, addStock)
      .on<ReserveStock>(
          {"inventory.reserve", 1}, [](ReserveStock::Reader m) { return m.getSku(); }, reserveStock)
      .on<ReleaseStock>(
          {"inventory.release", 1}, [](ReleaseStock::Reader m) { return m.getSku(); }, releaseStock)
      .on<CommitStock>(
          {"inventory.commit", 1}, [](CommitStock::Reader m) { return m.getSku(); }, commitStock);
}

}  // namespace orders
