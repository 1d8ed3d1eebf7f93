#!/usr/bin/env bash
# Kill soak: the bank and orders demos, round after round, each with a SIGKILL of one of its
# endpoint processes every 100-500 ms (`--kill-every-ms 300`: each kill after 1/3 to 5/3 of it),
# until KILLS kills in all. Every round ends with the demo's own invariant check (money
# conserved, every transfer notified exactly once, stock conserved, queues and error queues
# empty, ...); a round whose demo fails keeps its directory for the post-mortem. Writes a JSON
# report (kills, rounds, every invariant's results, throughput) and exits 1 when any round failed.
#
#   scripts/soak.sh [KILLS]        (default 10000; `make soak`, `make soak SOAK_KILLS=500`)
#   IDEM=build/bin/idem SOAK_DIR=build/soak SOAK_REPORT=build/soak/report.json
set -euo pipefail

target=${1:-10000}
idem=${IDEM:-build/bin/idem}
dir=${SOAK_DIR:-build/soak}
report=${SOAK_REPORT:-$dir/report.json}
command -v jq >/dev/null || { echo "soak: jq is missing: run scripts/setup.sh" >&2; exit 2; }
[ -x "$idem" ] || { echo "soak: $idem is not built" >&2; exit 2; }

rm -rf "$dir"
mkdir -p "$dir"
rounds_file="$dir/rounds.jsonl"
: >"$rounds_file"
kills=0
round=0
failed=0
started=$(date +%s)
while [ "$kills" -lt "$target" ]; do
  round=$((round + 1))
  if [ $((round % 2)) -eq 1 ]; then
    app=bank
    workload=(--transfers 2000 --accounts 200)
  else
    app=orders
    workload=(--orders 400)
  fi
  run="$dir/round"
  rm -rf "$run"
  status=0
  "$idem" demo "$app" "${workload[@]}" --seed "$round" --dir "$run" --kill-every-ms 300 \
    --lease-ms 500 --stall-seconds 120 --report "$dir/round.json" >"$dir/round.log" 2>&1 ||
    status=$?
  if [ ! -s "$dir/round.json" ]; then
    echo "{\"round\":$round,\"app\":\"$app\",\"exit\":$status,\"passed\":false,\"kills\":0}" \
      >>"$rounds_file"
  else
    jq -c --argjson round "$round" --argjson exit "$status" \
      '{round: $round, app: .app, exit: $exit, passed: .passed, kills: .chaos.kills,
        ended: .endedThisRun, workSeconds: .workSeconds, invariants: .invariants}' \
      "$dir/round.json" >>"$rounds_file"
  fi
  line=$(tail -n 1 "$rounds_file")
  round_kills=$(jq '.kills' <<<"$line")
  kills=$((kills + round_kills))
  if [ "$status" -ne 0 ] || [ "$(jq '.passed' <<<"$line")" != "true" ]; then
    failed=$((failed + 1))
    mv "$run" "$dir/failed-round-$round"
    cp "$dir/round.log" "$dir/failed-round-$round/demo.log"
    echo "soak: round $round ($app) FAILED (exit $status); kept in $dir/failed-round-$round" >&2
  fi
  rm -f "$dir/round.json"
  echo "soak: round $round ($app): $round_kills kills, $kills/$target in all," \
    "$failed failed rounds, $(($(date +%s) - started)) s" >&2
  if [ "$round_kills" -eq 0 ] && [ "$status" -ne 0 ]; then
    echo "soak: a round ended without a single kill and failed; stopping" >&2
    break
  fi
done
rm -rf "$dir/round"

jq -s --argjson target "$target" --argjson seconds "$(($(date +%s) - started))" '
  {
    killsTarget: $target,
    kills: (map(.kills) | add),
    rounds: length,
    failedRounds: (map(select(.passed != true or .exit != 0)) | length),
    wallSeconds: $seconds,
    itemsEnded: (map(.ended // 0) | add),
    itemsPerWorkSecond: ((map(.ended // 0) | add) / ((map(.workSeconds // 0) | add) + 1e-9)),
    invariants: ([.[].invariants // [] | .[]] | group_by(.name)
                 | map({name: .[0].name, held: map(select(.holds)) | length,
                        failed: map(select(.holds | not)) | length})),
    failures: map(select(.passed != true or .exit != 0) | {round, app, exit})
  }' "$rounds_file" >"$report"
cat "$report"
[ "$failed" -eq 0 ]
