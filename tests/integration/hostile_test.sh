#!/usr/bin/env bash
# Hostile use of podpath (issue 15): each case is a function in a file of
# tests/integration/hostile/, so that cases are added as separate files. A file defines
# hostile_<name> functions and registers each with `hostile_case <name>`; this driver sources
# every file, runs the cases in the order registered (or those named on the command line)
# and checks after each one that no podpath program it loaded is left in the kernel
# (no_podpath_programs_left of lib.sh: programs loaded before the test are not its own).
#
#   tests/integration/hostile_test.sh [REPO_ROOT] [CASE...]   (exit 0 pass, 1 fail, 77 skip)
#
# What a case may use, besides tests/integration/lib.sh:
#   hostile_lab            brings up the shared lab (2 nodes x 2 pods) once, sets L, N1, N2
#                          and the pods A (node1), B (node1), C (node2): *_NAME and *_IP
#   ping_from POD DST N    N pings from a pod, 50 ms apart
#   conv_packets FILE SRC DST [DIR]  packets of the ICMP conversation SRC -> DST in the last
#                          NDJSON snapshot of a trace (DIR forward or reverse)
#   wait_packets FILE SRC DST N      waits (up to 20 s) until that count reaches N; prints it
#   hop_counts FILE SRC DST / observed_hops FILE SRC DST
#                          packets at every observed hop (unique values) / number of such hops
#   scrub_leftovers        'podpath cleanup', for what a failed case left
# A case that changes the shared lab for good uses a lab of its own (lab_up NAME).
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
shift || true
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools bpftool
register_cleanup

HOSTILE_CASES=()
# hostile_case NAME: runs hostile_NAME in its turn.
hostile_case() { HOSTILE_CASES+=("$1"); }

L=""
hostile_lab() {
  [[ -z $L ]] || return 0
  L=ho
  lab_up "$L"
  N1=$L-node1
  N2=$L-node2
  A_NAME=$(pod_field $L node1 0 name)
  A_IP=$(pod_field $L node1 0 ip)
  B_NAME=$(pod_field $L node1 1 name)
  B_IP=$(pod_field $L node1 1 ip)
  C_NAME=$(pod_field $L node2 0 name)
  C_IP=$(pod_field $L node2 0 ip)
  export L N1 N2 A_NAME A_IP B_NAME B_IP C_NAME C_IP
}

ping_from() {  # ping_from POD DST COUNT [LAB]
  "$LAB" exec --name "${4:-$L}" "$1" -- ping -q -c "$3" -i 0.05 -W 1 "$2" >/dev/null
}

conv_packets() {  # conv_packets FILE SRC DST [forward|reverse]
  tail -n 1 "$1" 2>/dev/null | jq --arg s "$2" --arg d "$3" --arg dir "${4:-forward}" \
    '[.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d) | .[$dir].packets] | add // 0' \
    2>/dev/null || echo 0
}

wait_packets() {  # wait_packets FILE SRC DST N: the count once it reached N (or after 20 s)
  local n=0 _
  for _ in $(seq 200); do
    n=$(conv_packets "$1" "$2" "$3")
    [[ $n -ge $4 ]] && break
    sleep 0.1
  done
  echo "$n"
}

# The last snapshot's ICMP conversation SRC -> DST: packets at every observed hop, both ways,
# once they agree on one count (or after 20 s). A snapshot read while the last reply was
# still on its way shows it at the hops it had crossed: the next refresh has it at all.
hop_counts() {  # hop_counts FILE SRC DST
  local counts _
  for _ in $(seq 200); do
    counts=$(tail -n 1 "$1" | jq -c --arg s "$2" --arg d "$3" \
      '[.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d)
        | (.forward.hops + .reverse.hops)[] | select(.observed) | .packets] | unique')
    [[ $counts =~ ^\[[0-9]+\]$ ]] && break
    sleep 0.1
  done
  echo "$counts"
}
observed_hops() {  # observed_hops FILE SRC DST
  tail -n 1 "$1" | jq --arg s "$2" --arg d "$3" \
    '[.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d)
      | (.forward.hops + .reverse.hops)[] | select(.observed)] | length'
}

# Whatever a failed case left: removed the way an operator would.
scrub_leftovers() {
  "$PODPATH" cleanup >/dev/null 2>&1 || true
}

for f in "$ROOT"/tests/integration/hostile/*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done

selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${HOSTILE_CASES[@]}")
for c in "${selected[@]}"; do
  if ! declare -F "hostile_$c" >/dev/null; then
    fail "no hostile case '$c' (cases: ${HOSTILE_CASES[*]})"
    continue
  fi
  phase "hostile: $c"
  "hostile_$c"
  check "$c: no podpath program left in the kernel" no_podpath_programs_left
done

finish hostile
