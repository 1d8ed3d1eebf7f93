#!/usr/bin/env bash
# The HTTP rows of issue 15, measured with wrk (Debian's) over loopback against real processes:
#   http-ingress-vs-alo  fresh Idempotency-Keys through `idem gateway` (first requests, each
#                        answered once the handler ran) against idem-alo-gateway (the same
#                        server code, publish and answer 202, no dedup); target >= 0.7x
#   http-replay          a retry's cost (one key, replayed from the store) against a first
#                        request's; target <= 0.5x
#   http-sync-latency    StartTransfer through `idem gateway`: POST -> the handler's reply ->
#                        the response, p99 at half the maximum rate (8 connections paced by
#                        wrk's delay()); target <= 15 ms on a quiet disk
#   http-ingress-tls     the first row's fresh keys through `idem gateway` over HTTPS
#                        (--tls-cert/--tls-key, test certificates, kept-alive connections)
#                        against the same over HTTP; no target, what TLS costs
# Each side runs against the bank app's endpoints under `idem run` (durable) in a workspace of
# its own; the runs alternate, and the medians of HTTP_BENCH_RUNS runs are printed with the
# ratio and the machine's fsync rate measured in the same run.
# Usage: bench/http_bench.sh BUILD_DIR   (make bench-http)
set -euo pipefail
BUILD=${1:?usage: bench/http_bench.sh BUILD_DIR}
IDEM="$BUILD/bin/idem"
ALO="$BUILD/bin/idem-alo-gateway"
RUNS=${HTTP_BENCH_RUNS:-3}
SECONDS_PER_RUN=${HTTP_BENCH_SECONDS:-5}
CONNECTIONS=${HTTP_BENCH_CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "http_bench: wrk is not installed (scripts/setup.sh)" >&2; exit 2; }
SCRATCH=$(mktemp -d /tmp/idem-http-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
"$(dirname "$0")/../tests/make_test_certificates.sh" "$SCRATCH/pki"
SCHEME=http

cat > "$SCRATCH/fresh.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  local key = string.format("k-%d-%d", math.random(1, 1000000000), counter)
  local body = string.format('{"accountId":"%s","initialBalance":"100"}', key)
  return wrk.format("POST", "/v1/accounts/OpenAccount",
    {["Idempotency-Key"] = '"' .. key .. '"', ["Content-Type"] = "application/json"}, body)
end
LUA
cat > "$SCRATCH/replay.lua" <<'LUA'
request = function()
  return wrk.format("POST", "/v1/accounts/OpenAccount",
    {["Idempotency-Key"] = '"replayed"', ["Content-Type"] = "application/json"},
    '{"accountId":"replayed","initialBalance":"100"}')
end
LUA

cat > "$SCRATCH/transfer.lua" <<'LUA'
counter = 0
pause = 0
init = function(args) if args[1] then pause = tonumber(args[1]) end end
request = function()
  counter = counter + 1
  local id = string.format("t-%d-%d", math.random(1, 1000000000), counter)
  return wrk.format("POST", "/v1/transfers/StartTransfer",
    {["Idempotency-Key"] = '"' .. id .. '"', ["Content-Type"] = "application/json"},
    string.format('{"transferId":"%s","from":"A","to":"B","amount":"1"}', id))
end
delay = function() return pause end
LUA

wait_for() { for _ in $(seq 1 500); do [ -s "$1" ] && return 0; sleep 0.01; done; echo "http_bench: $1 never appeared" >&2; exit 1; }

# start_side NAME: the bank's endpoints and NAME's gateway (idem or alo) in $SCRATCH/NAME.
start_side() {
  local ws="$SCRATCH/$1"
  rm -rf "$ws" "$ws.port"; mkdir -p "$ws"
  "$IDEM" run --app bank --endpoint accounts --endpoint transfers --endpoint notifications \
    --dir "$ws" >"$ws.run.log" 2>&1 &
  PIDS+=($!)
  SCHEME=http
  if [ "$1" = idem ]; then
    "$IDEM" gateway --app bank --dir "$ws" --listen 127.0.0.1:0 --port-file "$ws.port" >"$ws.gw.log" 2>&1 &
  elif [ "$1" = idem-tls ]; then
    SCHEME=https
    "$IDEM" gateway --app bank --dir "$ws" --listen 127.0.0.1:0 --port-file "$ws.port" \
      --tls-cert "$SCRATCH/pki/server.crt" --tls-key "$SCRATCH/pki/server.key" >"$ws.gw.log" 2>&1 &
  else
    "$ALO" --app bank --dir "$ws" --port-file "$ws.port" >"$ws.gw.log" 2>&1 &
  fi
  PIDS+=($!)
  wait_for "$ws.port"
  PORT=$(cat "$ws.port")
}
stop_side() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }

# rate SCRIPT: requests/s of wrk (all answers 2xx, else the run fails).
rate() {
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$1" "$SCHEME://127.0.0.1:$PORT/")
  if grep -q "Non-2xx" <<<"$out"; then echo "http_bench: answers other than 2xx:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
# open_accounts: A (rich) and B, for the transfers.
open_accounts() {
  for account in 'A","initialBalance":"1000000000000' 'B","initialBalance":"0'; do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/accounts/OpenAccount" \
      -H "Idempotency-Key: \"open-${account%%\"*}\"" -H 'Content-Type: application/json' \
      -d "{\"accountId\":\"$account\"}"
  done
}

# sync_latency: "RATE P99_MS" of transfers paced to half of MAX_RATE over 8 connections.
sync_latency() {
  local max=$1 pause out
  pause=$(awk -v m="$max" 'BEGIN {printf "%d", 8 * 1000 / (m / 2)}')
  out=$(wrk -t1 -c8 -d"${SECONDS_PER_RUN}s" --latency -s "$SCRATCH/transfer.lua" \
    "http://127.0.0.1:$PORT/" -- "$pause")
  if grep -q "Non-2xx" <<<"$out"; then echo "http_bench: answers other than 2xx:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {rate = $2} $1 == "99%" {p = $2; if (p ~ /us$/) v = p / 1000; else if (p ~ /ms$/) v = p + 0; else v = p * 1000} END {printf "%.0f %.2f", rate, v}' <<<"$out"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

fsync_rate() {  # 4 KiB writes with O_DSYNC, per second
  dd if=/dev/zero of="$SCRATCH/fsync.probe" bs=4k count=1000 oflag=dsync 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") print int(1000 / $(i - 1))}'
}

IDEM_FRESH=(); TLS_FRESH=(); ALO_FRESH=(); REPLAY=(); SYNC_MAX=(); SYNC_RATE=(); SYNC_P99=()
for run in $(seq 1 "$RUNS"); do
  start_side idem
  rate "$SCRATCH/fresh.lua" >/dev/null  # warm-up: the store's first pages
  IDEM_FRESH+=("$(rate "$SCRATCH/fresh.lua")")
  curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/accounts/OpenAccount" \
    -H 'Idempotency-Key: "replayed"' -H 'Content-Type: application/json' \
    -d '{"accountId":"replayed","initialBalance":"100"}'
  REPLAY+=("$(rate "$SCRATCH/replay.lua")")
  open_accounts
  max=$(rate "$SCRATCH/transfer.lua")
  read -r paced p99 <<<"$(sync_latency "$max")"
  SYNC_MAX+=("$max"); SYNC_RATE+=("$paced"); SYNC_P99+=("$p99")
  stop_side
  start_side idem-tls
  rate "$SCRATCH/fresh.lua" >/dev/null
  TLS_FRESH+=("$(rate "$SCRATCH/fresh.lua")")
  stop_side
  start_side alo
  rate "$SCRATCH/fresh.lua" >/dev/null
  ALO_FRESH+=("$(rate "$SCRATCH/fresh.lua")")
  stop_side
done
FSYNC=$(fsync_rate)
idem=$(printf '%s\n' "${IDEM_FRESH[@]}" | median)
alo=$(printf '%s\n' "${ALO_FRESH[@]}" | median)
tls=$(printf '%s\n' "${TLS_FRESH[@]}" | median)
replay=$(printf '%s\n' "${REPLAY[@]}" | median)
sync_p99=$(printf '%s\n' "${SYNC_P99[@]}" | median)
sync_max=$(printf '%s\n' "${SYNC_MAX[@]}" | median)
sync_rate=$(printf '%s\n' "${SYNC_RATE[@]}" | median)
echo "http benchmarks: medians of $RUNS runs of ${SECONDS_PER_RUN}s, wrk -c$CONNECTIONS, fsync ${FSYNC}/s (4 KiB O_DSYNC writes, this run), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %14s %14s %8s %s\n' row idem baseline ratio target
awk -v i="$idem" -v a="$alo" 'BEGIN {printf "%-22s %10.0f r/s %10.0f r/s %7.2fx >= 0.70x %s\n", "http-ingress-vs-alo", i, a, i / a, (i / a >= 0.7 ? "met" : "NOT met")}'
# A request's cost is the inverse of the rate at the same concurrency.
awk -v f="$idem" -v r="$replay" 'BEGIN {printf "%-22s %10.0f r/s %10.0f r/s %7.2fx <= 0.50x %s\n", "http-replay (cost)", r, f, f / r, (f / r <= 0.5 ? "met" : "NOT met")}'
awk -v p="$sync_p99" -v m="$sync_max" -v r="$sync_rate" 'BEGIN {printf "%-22s %10.2f ms p99 at %.0f r/s (max %.0f r/s)   <= 15 ms %s\n", "http-sync-latency", p, r, m, (p <= 15 ? "met" : "NOT met")}'
awk -v t="$tls" -v i="$idem" 'BEGIN {printf "%-22s %10.0f r/s %10.0f r/s %7.2fx (no target: HTTPS against HTTP)\n", "http-ingress-tls", t, i, t / i}'
echo "runs: sync p99 ${SYNC_P99[*]} ms at ${SYNC_RATE[*]} r/s of max ${SYNC_MAX[*]}"
echo "runs: idem ${IDEM_FRESH[*]} | https ${TLS_FRESH[*]} | alo ${ALO_FRESH[*]} | replay ${REPLAY[*]}"
