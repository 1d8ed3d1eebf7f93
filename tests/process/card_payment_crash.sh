#!/usr/bin/env bash
# kill -9 of the caller between the phases of a card payment's call: the orders app (the calls
# endpoint, its runner and the paying entity in one process) SIGKILLs itself at one point
# (IDEM_CRASH_AT, tools/crash_hook.h), is restarted without it, and must still charge the card
# exactly once, ship the order, take the call to done and leave the service only a tombstone.
# The points: the service answered PUT / POST / DELETE but the caller had not recorded it; the
# POST's outcome recorded but not yet sent to the entity; the entity handling the outcome, and
# having committed it but not yet announced it (so DELETE waits); the runner's DELETE asked for
# but the request for it not yet acked. Usage: card_payment_crash.sh IDEM_BINARY
idem=$1
source "$(dirname "$0")/card_common.sh"
start_provider

# The calls endpoint's inputs, in order: HttpCall (1), PUT's answer (2), POST's answer (3),
# HttpCallDone (4), DELETE's answer (5); the payments endpoint's: RequestPayment (1),
# PayByCard (2), the call's result (3).
points=(after-put after-post after-commit@http-calls:3 in-handler@payments:3
  after-commit@payments:3 before-ack@http-calls:4 after-delete)
n=0
for point in "${points[@]}"; do
  n=$((n + 1))
  dir="$work/o$n"
  log="$work/orders$n.log"
  send orders "$dir" AddStock '{"sku":"s1","quantity":5}'
  # A short lease: what the killed process had taken is taken again a second after the kill.
  IDEM_CRASH_AT=$point start_orders "$dir" "$log" --lease-ms 1000
  send orders "$dir" PlaceOrder "{\"orderId\":\"c$n\",\"sku\":\"s1\",\"quantity\":1,\"amount\":\"700\"}"
  until_true has_versions orders "$dir/stores/payments" "payment/c$n" 1 ||
    fail "$point: c$n's payment not requested"
  send orders "$dir" PayByCard "{\"orderId\":\"c$n\",\"amount\":\"700\"}"
  status=0
  for _ in $(seq 300); do kill -0 "$orders" 2>/dev/null || break; sleep 0.1; done
  wait "$orders" || status=$?
  [ "$status" = 137 ] || fail "$point: the orders app did not kill itself there (status $status)"
  start_orders "$dir" "$log" --lease-ms 1000
  until_true has_versions orders "$dir/stores/orders" "order/c$n" 4 || fail "$point: not shipped"
  until_true calls_done_are "$dir" 1 || fail "$point: the call did not reach done"
  has_versions provider "$work/p/stores/provider" "charge/c$n" 1 ||
    fail "$point: charged $(versions provider "$work/p/stores/provider" "charge/c$n") times"
  until_true no_requests_left || fail "$point: a request left on the service"
  [ "$(tombstones)" = "$n" ] || fail "$point: $(tombstones) tombstones after $n calls"
  kill "$orders"
  wait "$orders" || fail "$point: the restarted orders app did not stop cleanly"
  echo "killed at $point: charged once, shipped, call done"
done
echo "card payment with the caller killed between phases: ok"
