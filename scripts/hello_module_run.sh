#!/usr/bin/env bash
# One run of examples/hello's handlers as a module under the stock tool, the way README's "Use it
# in your project" (step 5) shows: `idem run --handlers` in the background, one `idem send` of a
# Greet per NAME, a wait until both queues are empty, SIGTERM (it drains), then this run's
# counters of each endpoint, printed as hello's main() prints them:
#   greeter: N new, D duplicates, F failed
# usage: scripts/hello_module_run.sh IDEM MODULE DIR NAME...   (make test-install runs it)
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 IDEM MODULE DIR NAME..." >&2; exit 2; }
command -v jq >/dev/null || { echo "hello_module_run: jq is missing: run scripts/setup.sh" >&2; exit 2; }
idem=$1 module=$2 dir=$3
shift 3
mkdir -p "$dir"

"$idem" run --handlers "$module" --endpoint greeter --endpoint guestbook --dir "$dir" \
  >>"$dir/run.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

# Polls "$@" every 20 ms for up to 30 s (a hang fails the run, it is not a timing assertion).
wait_for() {
  for _ in $(seq 1500); do
    if "$@"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "idem run exited; its log:" >&2; cat "$dir/run.log" >&2; exit 1; }
    sleep 0.02
  done
  echo "hello_module_run: timed out waiting for: $*" >&2
  exit 1
}
# This process's stats files exist once every endpoint serves (tools/serve.cpp).
serving() { [ -f "$dir/stats/greeter.$pid.json" ] && [ -f "$dir/stats/guestbook.$pid.json" ]; }
# Nothing ready, leased or delayed on either queue: the greeter acks a Greet only after its
# Greeted is on the guestbook's queue, so both empty means every Greet went all the way.
drained() {
  "$idem" queues --dir "$dir" --handlers "$module" --json |
    jq -e 'map(select(.endpoint == "greeter" or .endpoint == "guestbook")
               | .ready + .inFlight + .delayed) | add == 0' >/dev/null
}

wait_for serving
for name in "$@"; do
  "$idem" send --handlers "$module" --dir "$dir" --type Greet --json "{\"name\":\"$name\"}" >/dev/null
done
wait_for drained
kill -TERM "$pid"
wait "$pid"
trap - EXIT

for endpoint in greeter guestbook; do
  jq -r --arg e "$endpoint" \
    '"\($e): \(.processed) new, \(.duplicates + .alreadyPublished + .prunedDuplicates) duplicates, \(.deadLettered) failed"' \
    "$dir/stats/$endpoint.$pid.json"
done
