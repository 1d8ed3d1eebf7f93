#!/usr/bin/env bash
# The orders sample pays by card through the provider sample over the four-phase protocol, as
# real processes: the provider's endpoint and its service gateway, the orders app with the
# calls endpoint and its runner. Checks that an approved card pays and ships its order, a
# declined one is rejected, the provider charged each order exactly once, and the service
# holds nothing but tombstones once every call finished. Over HTTPS with client certificates:
# the gateway's TLS options come from its --config file, the caller's from flags.
# Usage: card_payment.sh IDEM_BINARY
idem=$1
scheme=https
source "$(dirname "$0")/card_common.sh"
pki=$work/pki
"$(dirname "$0")/../make_test_certificates.sh" "$pki"
cat >"$work/service.toml" <<TOML
[gateway]
tls_cert_file = "$pki/server.crt"
tls_key_file = "$pki/server.key"
tls_client_ca_file = "$pki/ca.crt"
TOML
start_provider --config "$work/service.toml"
until_true grep -q "listening on https://.*client certificates required" "$work/service.log" ||
  fail "the service does not say it serves HTTPS with client certificates"
send orders "$work/o" AddStock '{"sku":"s1","quantity":5}'
start_orders "$work/o" "$work/orders.log" --call-ca "$pki/ca.crt" --call-cert "$pki/client.crt" \
  --call-key "$pki/client.key"
send orders "$work/o" PlaceOrder '{"orderId":"ok","sku":"s1","quantity":1,"amount":"500"}'
send orders "$work/o" PlaceOrder '{"orderId":"big","sku":"s1","quantity":1,"amount":"500000"}'
# Both await payment (RequestPayment applied) before they are paid.
until_true has_versions orders "$work/o/stores/payments" payment/ok 1 || fail "ok not requested"
until_true has_versions orders "$work/o/stores/payments" payment/big 1 || fail "big not requested"
send orders "$work/o" PayByCard '{"orderId":"ok","amount":"500"}'
send orders "$work/o" PayByCard '{"orderId":"ok","amount":"500"}'  # sent twice: one charge
send orders "$work/o" PayByCard '{"orderId":"big","amount":"500000"}'

# ok: placed, reserved, paid, shipped (4 versions); big: declined by the provider, so its
# payment took the card result (3 versions) and the order still waits (2).
until_true has_versions orders "$work/o/stores/orders" order/ok 4 || fail "order ok not shipped"
until_true has_versions orders "$work/o/stores/payments" payment/big 3 || fail "big not answered"
has_versions orders "$work/o/stores/orders" order/big 2 || fail "order big moved on"
# Each call went through its five steps, and the provider charged each order once.
calls=$("$idem" inspect --app orders "$work/o/stores/http-calls" | awk '$2 ~ /^call\// { print $3 }')
[ "$(echo "$calls" | wc -l)" = 2 ] || fail "expected 2 calls, got: $calls"
until_true calls_done_are "$work/o" 2 || fail "the calls did not all reach done"
has_versions provider "$work/p/stores/provider" charge/ok 1 || fail "ok charged more than once"
has_versions provider "$work/p/stores/provider" charge/big 1 || fail "big charged more than once"
# The service holds no request, only the two tombstones.
until_true no_requests_left || fail "requests left"
[ "$(tombstones)" = 2 ] || fail "expected 2 tombstones"
echo "card payment through the provider: ok"
