# Sourced by the card payment process tests: a scratch directory removed on exit with every
# process started, the provider sample served over the four-phase protocol, and helpers that
# read the stores with `idem inspect`. Expects $idem (the idem binary).
set -euo pipefail
work=$(mktemp -d /tmp/idem-card-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
  exit 1
}
send() { "$idem" send --app "$1" --dir "$2" --create --type "$3" --json "$4" >/dev/null; }
# Waits up to 30 s for `$@` to succeed.
until_true() {
  for _ in $(seq 300); do "$@" && return 0; sleep 0.1; done
  return 1
}
versions() {  # versions of entity $3 in store $2 of app $1
  "$idem" inspect --app "$1" "$2" 2>/dev/null | awk -v e="$3" '$2 == e { print $3 }'
}
has_versions() { [ "$(versions "$1" "$2" "$3")" = "$4" ]; }
# How many calls of the orders store $1 reached done (their fifth version).
calls_done() {
  "$idem" inspect --app orders "$1/stores/http-calls" | awk '$2 ~ /^call\// && $3 == 5' | wc -l
}
requests_left() { find "$work/p/service" -name '*.request' | wc -l; }
# Predicates for until_true, which runs its command again each time (a "$(...)" argument would
# be expanded once, before the first try).
calls_done_are() { [ "$(calls_done "$1")" = "$2" ]; }
no_requests_left() { [ "$(requests_left)" = 0 ]; }
tombstones() { find "$work/p/service" -name '*.deleted' | wc -l; }

# The provider's endpoint and its service gateway (more gateway flags as arguments); sets $port.
# $scheme is the service's URL scheme (http unless the caller sets https before).
scheme=${scheme:-http}
start_provider() {
  "$idem" run --app provider --endpoint provider --dir "$work/p" --no-fsync \
    >"$work/provider.log" 2>&1 &
  pids+=($!)
  "$idem" gateway --app provider --dir "$work/p" --service --listen 127.0.0.1:0 \
    --port-file "$work/port" "$@" >"$work/service.log" 2>&1 &
  pids+=($!)
  until_true test -s "$work/port" || fail "the provider's service did not start"
  port=$(cat "$work/port")
}

# The orders app over store $1 with the calls endpoint and its runner; log $2; more flags after
# them; sets $orders.
# Extra environment (IDEM_CRASH_AT=...) comes from the caller's `env`.
start_orders() {
  "$idem" run --app orders --dir "$1" --no-fsync --endpoint orders --endpoint inventory \
    --endpoint payments --endpoint shipping --endpoint http-calls \
    --call-service "provider=$scheme://127.0.0.1:$port" "${@:3}" >>"$2" 2>&1 &
  orders=$!
  pids+=($orders)
}
