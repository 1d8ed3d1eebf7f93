# The payment provider sample: an external card processor the orders sample calls over the
# four-phase protocol (served by `idem run --app provider` and `idem gateway --app provider
# --service`; docs/http.md). Amounts are Int64 cents.
@0xd53a9b3d841c9476;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("provider");

# Entity "charge", keyed by order id: a provider charges an order at most once.
struct CardCharge {
  orderId @0 :Text;
  amount @1 :Int64;
  approved @2 :Bool;
  chargeId @3 :Text;   # empty until charged
  requests @4 :UInt32; # Charge requests seen for this order
}

struct Charge { orderId @0 :Text; amount @1 :Int64; }
struct ChargeReply { orderId @0 :Text; approved @1 :Bool; chargeId @2 :Text; }
