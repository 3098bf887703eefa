#!/usr/bin/env bash
# Integration test: a half-built lab is cleaned up.
#
#   tests/integration/lab_halfbuilt_test.sh [REPO_ROOT]
#
# Starts 'scripts/lab up' in the background, SIGKILLs it while it is creating pods, then
# checks that the next 'up' of the same lab removes the remains (and says so) and succeeds,
# and that 'down' leaves nothing behind. Exit 0 = pass, 1 = fail, 77 = skipped.
# Uses its own lab name (lh). Takes about 20-40 s.
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
P=lh

require_root_and_lab_tools
require_cni_plugins
LAB_NAMES=("$P")
UP_PID=""
# The 'up' this test starts in the background must not outlive it.
kill_up() { if [[ -n $UP_PID ]]; then kill -KILL "$UP_PID" 2>/dev/null || true; fi; }
register_cleanup kill_up

count_pod_cgroups() {
  find "$cg2/podpath-lab.$P/kubepods/besteffort" -mindepth 1 -maxdepth 1 -type d -name 'pod*' 2>/dev/null | wc -l
}

phase "0. clean slate"
"$LAB" down --name "$P" >/dev/null
check "no traces of lab $P" nothing_left "$P"

phase "1. start 'up' (3 nodes x 8 pods) and SIGKILL it midway"
"$LAB" up --name "$P" --nodes 3 --pods-per-node 8 >"$TMP/up1.out" 2>&1 &
UP_PID=$!
started=0
for (( i = 0; i < 1200; i++ )); do     # up to 60 s
  if (( $(lab_netns "$P" | grep -c -- "-pod-" || true) >= 3 )); then started=1; break; fi
  kill -0 "$UP_PID" 2>/dev/null || break
  sleep 0.05
done
check "up got as far as creating pods" test "$started" = 1
kill -KILL "$UP_PID" 2>/dev/null || true
rc=0; { wait "$UP_PID"; } 2>/dev/null || rc=$?
UP_PID=""
check "up was killed by SIGKILL (exit $rc)" test "$rc" = 137
sleep 0.5
check "the killed up left a half-built lab: $(lab_netns "$P" | wc -l) namespace(s), $(count_pod_cgroups) pod cgroup(s)" \
  test "$(lab_netns "$P" | wc -l)" -gt 0
check "there is no inventory (the lab is not 'up')" test ! -e "/run/podpath-lab/$P/inventory.json"
rc=0; "$LAB" status --name "$P" >/dev/null 2>"$TMP/status.err" || rc=$?
check "status says not up and points at the remains (exit $rc: $(cat "$TMP/status.err"))" \
  bash -c "[[ $rc != 0 ]] && grep -q 'remains' '$TMP/status.err'"
mapfile -t OLD_INODES < <(for ns in $(lab_netns "$P"); do stat -L -c %i "/run/netns/$ns"; done)

phase "2. the next 'up' cleans the remains and succeeds"
t0=$EPOCHREALTIME
if "$LAB" up --name "$P" >"$TMP/up2.out" 2>&1; then
  pass "scripts/lab up --name $P ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s)"
else
  fail "scripts/lab up --name $P"
fi
cat "$TMP/up2.out"
check "up said it removed the remains" grep -q 'found remains of an unfinished lab' "$TMP/up2.out"
check "exactly the new lab exists: 7 namespaces (gw, 2 nodes, 4 pods)" test "$(lab_netns "$P" | wc -l)" = 7
check "exactly 4 pod cgroups" test "$(count_pod_cgroups)" = 4
# Namespace inode numbers are reused as soon as a namespace is freed, so an old number that
# now belongs to one of the new lab's namespaces proves the old namespace is gone.
mapfile -t NEW_INODES < <(for ns in $(lab_netns "$P"); do stat -L -c %i "/run/netns/$ns"; done)
check "none of the old namespaces is still held by a process" bash -c "
  for f in /proc/[0-9]*/ns/net; do
    l=\$(readlink \$f 2>/dev/null) || continue
    for i in ${OLD_INODES[*]}; do
      [[ ' ${NEW_INODES[*]} ' == *\" \$i \"* ]] && continue
      [[ \$l != net:\[\$i\] ]] || exit 1
    done
  done"
INV=$("$LAB" inventory --name "$P")
check "inventory lists 4 pods, all running" bash -c "
  [[ \$(jq '.pods | length' $INV) == 4 ]] &&
  [[ \$('$LAB' status --name $P | grep -c ' 2/2 *Running ') == 4 ]]"
src=$(jq -r '.pods[0].name' "$INV")
dst=$(jq -r '.pods[3].ip' "$INV")
check "cross-node ping $src -> $dst" "$LAB" exec --name "$P" "$src" -- ping -n -q -c 1 -W 2 "$dst" >/dev/null

phase "3. down leaves nothing behind"
mapfile -t INODES < <(for ns in $(lab_netns "$P"); do stat -L -c %i "/run/netns/$ns"; done)
check "scripts/lab down --name $P" "$LAB" down --name "$P"
check "no namespace, cgroup, data dir, lock file or container process left" nothing_left "$P"
lab_traces "$P"
check "no process holds one of the lab's network namespaces" bash -c "
  for f in /proc/[0-9]*/ns/net; do
    l=\$(readlink \$f 2>/dev/null) || continue
    for i in ${INODES[*]} ${OLD_INODES[*]}; do [[ \$l != net:\[\$i\] ]] || exit 1; done
  done"

echo
finish lab_halfbuilt_test
