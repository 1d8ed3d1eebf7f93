#!/usr/bin/env bash
# Runs each fuzz target of BUILD_DIR for SECONDS on a scratch copy of its fuzz/corpus/<target>/
# seeds, so that the repository's corpus never changes (docs/fuzzing.md). Prints libFuzzer's
# "Done N runs in S second(s)" per target; stops at the first target that finds something, whose
# input libFuzzer leaves in the scratch directory's artifacts/.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS [target...]
set -euo pipefail

build=$1
seconds=$2
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_envelope fuzz_canonical fuzz_history fuzz_bus_records
  fuzz_json fuzz_nats_headers)

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/idem-fuzz.XXXXXX")
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
  cp "$root/fuzz/corpus/$t/"* "$scratch/$t/corpus/"
  log="$scratch/$t/log"
  if ! "$build/bin/$t" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$scratch/$t/artifacts/" "$scratch/$t/corpus" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED; input and log in $scratch/$t" >&2
    exit 1
  fi
  echo "fuzz: $t: $(grep -E '^Done [0-9]+ runs' "$log")"
done
rm -rf "$scratch"
