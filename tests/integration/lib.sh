# Shared helpers for the integration tests (sourced). Each test:
#   - exits 0 pass, 1 fail, 77 skipped (not root); PODPATH_NO_SKIP=1 turns a skip into a failure
#   - uses its own lab name and cleans up on any exit (register_cleanup)
#   - synchronises on ready files, not sleeps
#
# A test sets ROOT (from $1 or its own folder), sources this file, then:
#   require_root_and_tools [TOOL...]      tests of the podpath binary: root, ip tc jq ping nsenter,
#                                         TOOL..., and the binary ($PODPATH_BIN or the build's)
#   require_root_and_lab_tools [TOOL...]  tests of scripts/lab alone: root, ip jq nsenter unshare
#                                         flock and TOOL...; no podpath binary needed
#   require_cni_plugins                   the CNI plugins scripts/lab uses (/usr/lib/cni)
#   register_cleanup [FUNCTION]           on any exit: FUNCTION (if given), then kill
#                                         PODPATH_PIDS, 'scripts/lab down' every LAB_NAMES entry
#                                         (lab_up adds to it; add labs made otherwise), rm $TMP;
#                                         it creates $TMP, the test's scratch directory
# Lab state: $cg2 (the cgroup v2 mount), lab_netns / lab_traces / nothing_left PREFIX.
# Process trees (scripts/lib/lab_procs.sh, the lab's own): kill_trees PID... stops processes
# and their descendants, e.g. a 'scripts/lab exec' and what it runs inside the pod.
# Results: check, check_eq, pass, fail, phase, finish [NAME].
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LAB=$ROOT/scripts/lab
# shellcheck source=scripts/lib/lab_procs.sh
source "$ROOT/scripts/lib/lab_procs.sh"
PODPATH=${PODPATH_BIN:-$ROOT/build/userspace/cli/podpath}

skip() {
  echo "SKIP: $*"
  if [[ ${PODPATH_NO_SKIP:-0} == 1 ]]; then exit 1; fi
  exit 77
}

# require_root_for WHY TOOL...: skip unless root and every TOOL is on PATH.
require_root_for() {
  local why=$1 t
  shift
  [[ $(id -u) -eq 0 ]] || skip "needs root ($why)"
  for t in "$@"; do
    command -v "$t" >/dev/null || skip "'$t' missing (run scripts/install-deps)"
  done
}
# shellcheck disable=SC2120  # the arguments are optional
require_root_and_tools() {
  require_root_for "BPF, network namespaces, cgroups" ip tc jq ping nsenter "$@"
  [[ -x $PODPATH ]] || { echo "FAIL: podpath binary not found at $PODPATH (build first)"; exit 1; }
}
# shellcheck disable=SC2120  # the arguments are optional
require_root_and_lab_tools() {
  require_root_for "network namespaces, cgroups" ip jq nsenter unshare flock "$@"
}
require_cni_plugins() {
  local p missing=()
  for p in bridge host-local loopback; do
    [[ -x /usr/lib/cni/$p ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    skip "CNI plugin(s) ${missing[*]} missing from /usr/lib/cni (Debian package containernetworking-plugins)"
  fi
}

FAILS=0
exec 3>&1 # results go to fd 3, so that a check's command may redirect its own output
pass() { printf 'ok    %s\n' "$*" >&3; }
fail() { printf 'FAIL  %s\n' "$*" >&3; FAILS=$((FAILS + 1)); }
# check DESCRIPTION COMMAND...: run COMMAND, pass if it succeeds.
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
# finish [NAME]: the verdict line (prefixed "NAME: "), exit 1 if a check failed.
# shellcheck disable=SC2120  # the arguments are optional
finish() {
  if [[ $FAILS -gt 0 ]]; then
    echo "${1:+$1: }$FAILS check(s) failed"
    exit 1
  fi
  echo "${1:+$1: }all checks passed"
}

# podpath's BPF programs, as "ID NAME" lines. Programs that other processes (another test,
# a benchmark, a podpath the operator runs) hold are not this test's to judge, so a test
# snapshots them when it sources this file and only programs loaded after that count.
podpath_programs() {
  bpftool prog list 2>/dev/null | sed -n -E 's/^([0-9]+): .* name (pp_[a-z0-9_]+) .*/\1 \2/p' | sort
}
PREEXISTING_PROGRAMS=$(podpath_programs)
# no_podpath_programs_left [NAME-REGEX]: true once no program whose name matches (default:
# any pp_*) and that was loaded after the snapshot is left. A detached program is freed
# after an RCU grace period and a namespace's devices after the netns cleanup work, both
# asynchronous, so this waits up to 10 s before it gives up.
no_podpath_programs_left() {
  local re=${1:-pp_} i left
  for ((i = 0; i < 100; i++)); do
    left=$(comm -13 <(echo "$PREEXISTING_PROGRAMS") <(podpath_programs) | awk -v re="$re" '$2 ~ re')
    [[ -z $left ]] && return 0
    sleep 0.1
  done
  echo "left behind: $(tr '\n' ' ' <<<"$left")" >&2
  return 1
}

# Background processes (start_podpath adds podpath; a test may add its own); the cleanup
# sends them SIGTERM and waits.
PODPATH_PIDS=()
LAB_NAMES=()
CLEANUP_HOOK=""
cleanup_common() {
  if [[ -n $CLEANUP_HOOK ]]; then "$CLEANUP_HOOK" || true; fi
  local pid
  for pid in "${PODPATH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PODPATH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  local n
  for n in "${LAB_NAMES[@]}"; do "$LAB" down --name "$n" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
}
# register_cleanup [FUNCTION] also makes $TMP (after the require_* checks, so a skip leaves
# no temporary directory behind).
# shellcheck disable=SC2120  # the arguments are optional
register_cleanup() {
  CLEANUP_HOOK=${1:-}
  TMP=$(mktemp -d)
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

# What exists of a lab, by name: its namespaces, cgroup dir, data dir, lock file and live
# (non-zombie) init/shim processes of its containers. The cgroup v2 mount is looked up, not
# assumed.
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
lab_netns() { ip netns list | awk '{ print $1 }' | grep -E "^$1-(gw|node[0-9]+|pod-.*)$" || true; }
lab_traces() {
  local p=$1 d
  lab_netns "$p"
  if [[ -n $cg2 && -e $cg2/podpath-lab.$p ]]; then echo "cgroup $cg2/podpath-lab.$p"; fi
  if [[ -e /run/podpath-lab/$p ]]; then echo "data dir /run/podpath-lab/$p"; fi
  if [[ -e /run/podpath-lab/$p.lock ]]; then echo "lock /run/podpath-lab/$p.lock"; fi
  for d in /proc/[0-9]*; do
    if [[ $( { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) == *"podpath-lab=$p "* ]]; then
      echo "process ${d#/proc/}"
    fi
  done
}
nothing_left() { [[ -z $(lab_traces "$1") ]]; }

# Prints the path of a full device (major 1, minor 7, like /dev/full) for a test to write to:
# one of the test's own at $1, so that a binary with the bug under test (replacing the file)
# cannot take the machine's /dev/full with it; /dev/full itself where $1's filesystem allows
# no device nodes (nodev).
full_device() {
  rm -f "$1"
  if mknod -m 0666 "$1" c 1 7 2>/dev/null && (printf x >"$1") 2>&1 | grep -q 'No space left'; then
    echo "$1"
  else
    rm -f "$1"
    echo /dev/full
  fi
}

inventory_of() { echo "/run/podpath-lab/$1/inventory.json"; }
# pod_field LAB NODE INDEX FIELD: a field of the INDEX-th pod (0-based) on NODE.
pod_field() {
  jq -r --arg n "$2" --argjson i "$3" --arg f "$4" '[.pods[] | select(.node == $n)][$i][$f]' "$(inventory_of "$1")"
}

# start_podpath OUTFILE ARGS...: podpath in the background with --ready-file; waits (up to
# 30 s) until it is attached. Sets LAST_PID. PODPATH_PREFIX (an array, e.g. nsenter into a
# node's namespace) goes before the binary; it must exec it, so LAST_PID is podpath's.
PODPATH_PREFIX=()
start_podpath() {
  local out=$1
  shift
  local ready=$TMP/ready.$RANDOM
  "${PODPATH_PREFIX[@]}" "$PODPATH" "$@" --ready-file "$ready" >"$out" 2>"$out.err" &
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
