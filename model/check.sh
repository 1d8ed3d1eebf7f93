#!/usr/bin/env bash
# Model-checks model/state_based.pml with SPIN (docs/model.md):
#   1. the correct model, in several fault configurations: exhaustive safety searches (every
#      assertion, no invalid end state) and a liveness search (LTL <> finished), each of which
#      must report "errors: 0" without depth truncation;
#   2. every mutation (a classic bug switched on with -DBUG_...): must FAIL, on the oracle named;
#   3. witnesses (vacuity checks): must FAIL too, proving the correct model reaches the scenario.
# Usage: model/check.sh [--full]   (--full adds the largest configurations: ~4 minutes, 1.3 GB at most)
# Works from any directory; compiles pan in a temporary directory. Exit status 0 only when
# every result is the expected one.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="$here/state_based.pml"
full=0
[ "${1:-}" = "--full" ] && full=1

for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "model/check.sh: FAIL: '$tool' is not installed; run scripts/setup.sh (Debian package" \
         "'$([ "$tool" = spin ] && echo spin || echo build-essential)')" >&2
    exit 1
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/idem-model.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/state_based.pml" || exit 1   # one snapshot for every run
model="$work/state_based.pml"
failures=0
start_all=$(date +%s)

# Common pan options: a depth bound far above the model's (it reports "depth reached"), a hash
# table sized for a few million states, and a memory cap so that a mistake cannot eat the box.
DEPTH=100000
# (-O1: gcc -O2 takes longer to compile pan.c than -O1 saves on these searches; the mutation
# and witness searches are tiny and use -O0.)
CFLAGS_COMMON=(-w -DNOBOUNDCHECK -DNOFAIR -DMEMLIM=4096)

# build NAME "spin -D flags" "extra cc flags" -> pan binary in $work/NAME
build() {
  local name="$1" defs="$2" ccdefs="$3" dir="$work/$1"
  mkdir -p "$dir" && cp "$model" "$dir/" || return 1
  # shellcheck disable=SC2086
  (cd "$dir" && spin $defs -a state_based.pml >spin.log 2>&1 &&
     gcc "${CFLAGS_COMMON[@]}" $ccdefs -o pan pan.c >>spin.log 2>&1) || {
    echo "  $name: FAIL: spin/gcc could not build the verifier:"; sed 's/^/    /' "$dir/spin.log"
    return 1
  }
}

field() { grep -Eo "$1" "$2" | head -1; }

# verify NAME "spin defs" "cc defs" "pan args": the correct model must verify completely
verify() {
  local name="$1" dir="$work/$1" t0 t1
  build "$1" "$2" "-O1 $3" || { failures=$((failures + 1)); return; }
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  (cd "$dir" && ./pan -m$DEPTH $4 >pan.out 2>&1)
  t1=$(date +%s.%N)
  local out="$dir/pan.out" ok=1
  grep -q "errors: 0" "$out" || ok=0
  grep -qE "max search depth too small|Search not completed|out of memory|pan: reached -DMEMLIM" \
    "$out" && ok=0
  local states trans depth mem
  states=$(field '[0-9.e+]+ states, stored' "$out" | awk '{print $1}')
  trans=$(field '[0-9.e+]+ transitions' "$out" | awk '{print $1}')
  depth=$(field 'depth reached [0-9]+' "$out" | awk '{print $3}')
  mem=$(grep -E 'total actual memory usage' "$out" | awk '{print $1}')
  printf '  %-34s %s  states %s  transitions %s  depth %s  %.1fs  %s MB\n' "$name" \
    "$([ $ok = 1 ] && echo "ok  " || echo FAIL)" "${states:-?}" "${trans:-?}" "${depth:-?}" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "${mem:-?}"
  printf '  %-34s (spin %s; pan %s)\n' "" "$2" "${4:-}"
  if [ $ok = 0 ]; then
    failures=$((failures + 1))
    sed 's/^/    | /' "$out" | head -40
  fi
}

# refute NAME "spin defs" "expected regex": the variant must fail, naming what it violated
refute() {
  local name="$1" dir="$work/$1"
  build "$1" "$2" "-O0 -DSAFETY" || { failures=$((failures + 1)); return; }
  (cd "$dir" && ./pan -m$DEPTH >pan.out 2>&1)
  local out="$dir/pan.out" what
  what=$(grep -E '^pan:1: ' "$out" | head -1)
  if grep -qE "errors: [1-9]" "$out" && grep -qE "$3" <<<"$what"; then
    local named
    named=$(grep -Eo '(O[1-8]_[a-z_]+|NONDETERMINISM_[a-z_]+|WITNESS_reached|invalid end state)' \
      <<<"$what" | head -1)
    local steps
    steps=$(grep -Eo 'at depth [0-9]+' <<<"$what")
    printf '  %-34s ok    violates %s (%s)\n' "$name" "$named" "$steps"
    # the counterexample, as the model's own narrative (its printf lines along the trail)
    # shellcheck disable=SC2086
    (cd "$dir" && spin $2 -t state_based.pml 2>&1) |
      grep -vE '^\s*$|^spin:|^#processes|^\s+[A-Za-z0-9_]+(\[[0-9]+\])? = |^[0-9]+ process|proc +[0-9]' |
      sed 's/^ */      | /' | head -${NARRATIVE_LINES:-30}
  else
    failures=$((failures + 1))
    printf '  %-34s FAIL  expected a violation matching /%s/, got: %s\n' "$name" "$3" \
      "${what:-no error}"
    sed 's/^/    | /' "$out" | head -20
  fi
}

echo "SPIN: $(spin -V 2>&1 | head -1)"
echo "correct model (must verify: errors 0, complete search)"
verify correct_dup2_crash1 "-DMAXDUP=2 -DMAXCRASH=1 -DMAXEXPIRE=0" "-DSAFETY" "-w22"
verify correct_dup1_crash1_expire1 "-DMAXDUP=1 -DMAXCRASH=1 -DMAXEXPIRE=1" "-DSAFETY" "-w22"
verify correct_dup2_crash2 "-DMAXDUP=2 -DMAXCRASH=2 -DMAXEXPIRE=0" "-DSAFETY -DCOLLAPSE" "-w23"
verify correct_partial_dup1_crash1 "-DMAXDUP=1 -DMAXCRASH=1 -DMAXEXPIRE=0 -DPARTIAL_PUBLISH" \
  "-DSAFETY" "-w22"
verify liveness_o8_dup1_crash1 "-DMAXDUP=1 -DMAXCRASH=1 -DMAXEXPIRE=0 -DLIVENESS" "" "-a -w22"
if [ $full = 1 ]; then
  verify full_dup2_crash1_expire1 "-DMAXDUP=2 -DMAXCRASH=1 -DMAXEXPIRE=1" \
    "-DSAFETY -DCOLLAPSE" "-w24"
  verify full_partial_dup2_crash1 "-DMAXDUP=2 -DMAXCRASH=1 -DMAXEXPIRE=0 -DPARTIAL_PUBLISH" \
    "-DSAFETY -DCOLLAPSE" "-w24"
  verify full_dup2_crash2_expire1 "-DMAXDUP=2 -DMAXCRASH=2 -DMAXEXPIRE=1" \
    "-DSAFETY -DCOLLAPSE" "-w25"
  verify full_liveness_dup1_crash1_expire1 "-DMAXDUP=1 -DMAXCRASH=1 -DMAXEXPIRE=1 -DLIVENESS" \
    "-DCOLLAPSE" "-a -w24"
fi

# Mutations and witnesses run in the largest default configuration; a depth-first search stops
# at the first counterexample.
cfg="-DMAXDUP=2 -DMAXCRASH=1 -DMAXEXPIRE=1"
echo "mutations (must fail)"
refute bug_publish_before_commit "$cfg -DBUG_PUBLISH_BEFORE_COMMIT" 'O4_no_ghost'
refute bug_replay_on_current_state "$cfg -DBUG_REPLAY_ON_CURRENT_STATE" \
  'NONDETERMINISM_digest_mismatch'
refute bug_replay_current_no_digest "$cfg -DBUG_REPLAY_ON_CURRENT_STATE -DNO_DIGEST_CHECK" \
  'O2_copies_identical|O3_output_of_committed_state'
refute bug_ack_before_commit "$cfg -DBUG_ACK_BEFORE_COMMIT" 'O6_acked_has_entry'
refute bug_no_publication_set "$cfg -DBUG_NO_PUBLICATION_SET" 'O5_no_loss'
refute bug_no_dedup "$cfg -DBUG_NO_DEDUP" 'O1_one_entry_per_input'
refute bug_lease_never_expires "$cfg -DBUG_LEASE_NEVER_EXPIRES" 'invalid end state'
echo "witnesses (must fail: the correct model reaches each scenario)"
refute witness_replay_after_state_moved "$cfg -DWITNESS_REPLAY_AFTER_MOVE" 'WITNESS_reached'
refute witness_dup_of_published_acked "$cfg -DWITNESS_ALREADY_PUBLISHED" 'WITNESS_reached'
refute witness_dup_in_same_batch "$cfg -DWITNESS_SAME_BATCH_DUP" 'WITNESS_reached'
refute witness_stale_ack_after_takeover "$cfg -DWITNESS_STALE_ACK" 'WITNESS_reached'

echo "total $(($(date +%s) - start_all))s"
if [ $failures -ne 0 ]; then
  echo "model/check.sh: FAIL: $failures unexpected result(s)"
  exit 1
fi
echo "model/check.sh: all results as expected"
