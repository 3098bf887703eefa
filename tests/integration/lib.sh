# Shared helpers for the integration tests (sourced). Each test:
#   - exits 0 pass, 1 fail, 77 skipped (not root); PODPATH_NO_SKIP=1 turns a skip into a failure
#   - uses its own lab name and cleans up on any exit (register_cleanup)
#   - synchronises on ready files, not sleeps
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LAB=$ROOT/scripts/lab
PODPATH=${PODPATH_BIN:-$ROOT/build/userspace/podpath}

skip() {
  echo "SKIP: $*"
  if [[ ${PODPATH_NO_SKIP:-0} == 1 ]]; then exit 1; fi
  exit 77
}

require_root_and_tools() {
  [[ $(id -u) -eq 0 ]] || skip "needs root (BPF, network namespaces, cgroups)"
  local t
  for t in ip tc jq ping nsenter "$@"; do
    command -v "$t" >/dev/null || skip "'$t' missing (run scripts/install-deps)"
  done
  [[ -x $PODPATH ]] || { echo "FAIL: podpath binary not found at $PODPATH (build first)"; exit 1; }
}

FAILS=0
exec 3>&1
pass() { printf 'ok    %s\n' "$*" >&3; }
fail() { printf 'FAIL  %s\n' "$*" >&3; FAILS=$((FAILS + 1)); }
check() {
  local d=$1
  shift
  if "$@"; then pass "$d"; else fail "$d"; fi
}
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1 ($3)"; else fail "$1: expected '$2', got '$3'"; fi
}
phase() { printf '\n== %s\n' "$*"; }
finish() {
  if [[ $FAILS -gt 0 ]]; then
    echo "$FAILS check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}

# Background podpath processes started by start_podpath; killed by the cleanup.
PODPATH_PIDS=()
TMP=$(mktemp -d)
LAB_NAMES=()
cleanup_common() {
  local pid
  for pid in "${PODPATH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PODPATH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  local n
  for n in "${LAB_NAMES[@]}"; do "$LAB" down --name "$n" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
}
register_cleanup() {
  # shellcheck disable=SC2154  # rc is assigned inside the trap string
  trap 'rc=$?; cleanup_common; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

lab_up() {
  local name=$1
  shift
  LAB_NAMES+=("$name")
  "$LAB" up --name "$name" "$@" >"$TMP/lab-up-$name.log" 2>&1 || {
    cat "$TMP/lab-up-$name.log"
    echo "FAIL: scripts/lab up --name $name"
    exit 1
  }
}

inventory_of() { echo "/run/podpath-lab/$1/inventory.json"; }
# pod_field LAB NODE INDEX FIELD: a field of the INDEX-th pod (0-based) on NODE.
pod_field() {
  jq -r --arg n "$2" --argjson i "$3" --arg f "$4" '[.pods[] | select(.node == $n)][$i][$f]' "$(inventory_of "$1")"
}

# start_podpath OUTFILE ARGS...: podpath in the background with --ready-file; waits (up to
# 30 s) until it is attached. Sets LAST_PID.
start_podpath() {
  local out=$1
  shift
  local ready=$TMP/ready.$RANDOM
  "$PODPATH" "$@" --ready-file "$ready" >"$out" 2>"$out.err" &
  LAST_PID=$!
  PODPATH_PIDS+=("$LAST_PID")
  local _
  for _ in $(seq 300); do
    [[ -f $ready ]] && return 0
    if ! kill -0 "$LAST_PID" 2>/dev/null; then
      echo "podpath exited before it was ready:"
      cat "$out.err"
      return 1
    fi
    sleep 0.1
  done
  echo "podpath not ready after 30 s"
  return 1
}

# stop_podpath PID [SIGNAL]: signal and wait (not in a subshell: wait needs our child);
# the exit code is left in STOP_RC.
# shellcheck disable=SC2034  # STOP_RC is read by the tests that source this file
stop_podpath() {
  kill "-${2:-TERM}" "$1" 2>/dev/null || true
  STOP_RC=0
  wait "$1" || STOP_RC=$?
}

# podpath-owned TC filters (classic) on an interface in a namespace, both hooks.
podpath_filters() {
  local ns=$1 dev=$2 hook n=0 c
  for hook in ingress egress; do
    c=$(ip netns exec "$ns" tc filter show dev "$dev" "$hook" 2>/dev/null | grep -c 'pp_tc_' || true)
    n=$((n + c))
  done
  echo "$n"
}
