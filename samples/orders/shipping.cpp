// Shipping: ships an order once and answers with its tracking id.
#include <chrono>
#include <string>

#include "samples/orders/orders.h"

namespace orders {

namespace {

void shipOrder(Shipment::Builder shipment, ShipOrder::Reader m, idem::Context& ctx) {
  if (!shipment.hasTrackingId()) {
    shipment.setOrderId(m.getOrderId());
    // newId() is derived from the input, so a re-run assigns the same tracking id.
    shipment.setTrackingId(ctx.newId().toHex());
    shipment.setShippedAt(
        std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.now().time_since_epoch()).count());
  }
  Shipped::Builder shipped = ctx.reply<Shipped>();
  shipped.setOrderId(m.getOrderId());
  shipped.setTrackingId(shipment.asReader().getTrackingId());
}

}  // namespace

void registerShipping(idem::Handlers& handlers) {
  handlers.entity<Shipment>("shipment")
      .on<ShipOrder>(
          {"shipping.ship", 1}, [](ShipOrder::Reader m) { return m.getOrderId(); }, shipOrder);
}

}  // namespace orders
