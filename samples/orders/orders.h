// The orders sample's endpoints: the handlers of orders, inventory, payments and shipping.
// Message flow and schema: samples/orders/orders.capnp and samples/README.md.
#pragma once

#include <idem/handlers.h>

#include <chrono>

#include "samples/orders/orders.capnp.h"

namespace orders {

inline constexpr const char* kOrders = "orders";
inline constexpr const char* kInventory = "inventory";
inline constexpr const char* kPayments = "payments";
inline constexpr const char* kShipping = "shipping";

// The card processor PayByCard calls (the provider sample, samples/provider, or any service of
// the four-phase protocol): its service name (`idem run --call-service provider=URL`) and the
// path of its Charge requests.
inline constexpr const char* kProviderService = "provider";
inline constexpr const char* kChargePath = "/v1/provider/Charge";

// How long an order waits for its payment when PlaceOrder does not say.
inline constexpr std::chrono::minutes kDefaultPaymentWindow{15};

// Entity "order", keyed by order id: the process manager of one order. PlaceOrder (edge) sends
// ReserveStock; StockReserved sends RequestPayment and a PaymentDeadline to itself, delayed by
// the payment window; PaymentReceived before the deadline sends ShipOrder and CommitStock;
// Shipped publishes OrderShipped. StockUnavailable publishes OrderRejected. An order still
// unpaid at its deadline is cancelled: ReleaseStock, CancelPayment, OrderCancelled published.
// Messages that do not fit the current step (late, repeated) change nothing.
void registerOrders(idem::Handlers& handlers);

// Entity "stock", keyed by sku. AddStock (edge) adds units; ReserveStock is answered with
// StockReserved or StockUnavailable; ReleaseStock and CommitStock end a reservation, silently.
// Every request is idempotent per order id.
void registerInventory(idem::Handlers& handlers);

// Entity "payment", keyed by order id; the one place where a payment and a cancellation meet.
// RequestPayment records the amount due; PayOrder (edge, from the customer) of that amount sends
// PaymentReceived to orders; CancelPayment stops it. A payment after the cancellation, or a
// cancellation after the payment, is refunded (PaymentRefunded published); a payment for an
// unknown order or of the wrong amount is refused (PaymentRejected published). PayByCard (edge)
// calls the provider exactly once (idem::call, docs/http.md); its approval pays as PayOrder
// does, with the provider's charge id as the payment reference; a decline, or a call the
// provider refused, is rejected (cardDeclined).
void registerPayments(idem::Handlers& handlers);

// Entity "shipment", keyed by order id. ShipOrder is answered with Shipped and a tracking id
// derived with Context::newId(); a repeated ShipOrder gets the same answer.
void registerShipping(idem::Handlers& handlers);

}  // namespace orders
