# The orders sample: an order reserves stock, waits for payment until a deadline, then ships or
# is cancelled (stock released, a late payment refunded). Amounts are Int64 cents.
@0x8dd9b776da152774;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("orders");

# ---- orders: entity "order", keyed by order id; the process manager of one order ----

struct Order {
  orderId @0 :Text;
  sku @1 :Text;
  quantity @2 :UInt32;
  amount @3 :Int64;
  step @4 :Step;
  placedAt @5 :Int64;          # ns since the epoch, from the context's now()
  paymentDeadline @6 :Int64;   # ns since the epoch
  trackingId @7 :Text;
  paymentWindowMs @8 :UInt32;  # from PlaceOrder; 0: kDefaultPaymentWindow
  enum Step {
    notPlaced @0;              # the initial state
    reserving @1;              # ReserveStock sent
    awaitingPayment @2;        # RequestPayment sent, PaymentDeadline scheduled
    shipping @3;               # paid; ShipOrder and CommitStock sent
    shipped @4;
    rejected @5;               # stock unavailable
    cancelled @6;              # unpaid at the deadline; stock released, payment cancelled
  }
}

struct PlaceOrder {
  orderId @0 :Text;
  sku @1 :Text;
  quantity @2 :UInt32;
  amount @3 :Int64;
  paymentWindowMs @4 :UInt32;  # 0: the default of 15 minutes
}
struct PaymentDeadline { orderId @0 :Text; }  # sent by an order to itself, delayed

# Published.
struct OrderRejected { orderId @0 :Text; available @1 :UInt32; }
struct OrderCancelled { orderId @0 :Text; }
struct OrderShipped { orderId @0 :Text; trackingId @1 :Text; }

# ---- inventory: entity "stock", keyed by sku ----

struct Reservation { orderId @0 :Text; quantity @1 :UInt32; }

struct Stock {
  sku @0 :Text;
  available @1 :UInt32;                # not reserved
  reservations @2 :List(Reservation);  # reserved for orders not yet shipped or cancelled
  shipped @3 :UInt64;                  # units that left with committed reservations
  finished @4 :List(Text);             # orders whose reservation was committed or released
}

struct AddStock { sku @0 :Text; quantity @1 :UInt32; }   # edge
struct ReserveStock { orderId @0 :Text; sku @1 :Text; quantity @2 :UInt32; }
struct StockReserved { orderId @0 :Text; sku @1 :Text; quantity @2 :UInt32; }
struct StockUnavailable { orderId @0 :Text; sku @1 :Text; available @2 :UInt32; }
struct ReleaseStock { orderId @0 :Text; sku @1 :Text; }   # no answer
struct CommitStock { orderId @0 :Text; sku @1 :Text; }    # no answer

# ---- payments: entity "payment", keyed by order id ----

struct Payment {
  orderId @0 :Text;
  amount @1 :Int64;             # expected
  status @2 :Status;
  paymentRef @3 :Text;          # the customer's payment, once paid
  charging @4 :Bool;            # PayByCard asked the provider; its answer not in yet
  enum Status {
    none @0;                    # the initial state: not requested
    requested @1;
    paid @2;
    cancelled @3;               # the order was cancelled before it was paid
    refunded @4;                # paid, but the order was cancelled: the money went back
  }
}

struct RequestPayment { orderId @0 :Text; amount @1 :Int64; }
struct CancelPayment { orderId @0 :Text; }                      # no answer
struct PayOrder { orderId @0 :Text; amount @1 :Int64; paymentRef @2 :Text; }  # edge
# Edge: pay by card. The payment calls the provider (samples/provider, an HTTP service) exactly
# once with idem::call(); an approved charge pays the order as a PayOrder would (paymentRef:
# the provider's charge id), a declined or failed one is rejected (cardDeclined).
struct PayByCard { orderId @0 :Text; amount @1 :Int64; }
struct PaymentReceived { orderId @0 :Text; amount @1 :Int64; }  # sent to orders

# Published for the customer.
struct PaymentRejected { orderId @0 :Text; paymentRef @1 :Text; reason @2 :Reason;
  enum Reason { unknownOrder @0; wrongAmount @1; cardDeclined @2; }
}
struct PaymentRefunded { orderId @0 :Text; paymentRef @1 :Text; amount @2 :Int64; }

# ---- shipping: entity "shipment", keyed by order id ----

struct Shipment {
  orderId @0 :Text;
  trackingId @1 :Text;          # empty until shipped
  shippedAt @2 :Int64;
}

struct ShipOrder { orderId @0 :Text; sku @1 :Text; quantity @2 :UInt32; }
struct Shipped { orderId @0 :Text; trackingId @1 :Text; }
