#!/usr/bin/env bash
# Integration test of `podpath shared-ip` (docs/containers.md) on a lab of its own.
#
#   tests/integration/shared_ip_test.sh [REPO_ROOT]
#
# Two containers of a pod on node1 open TCP connections to a pod on node2, one after the
# other; shared-ip must report both with the pod IP, from the pod's namespace, with exactly
# the TCP segments the kernel says that namespace sent (TcpOutSegs + TcpRetransSegs of the
# pod's namespace, read between the two containers' turns), a third idle container as
# "no traffic seen", and PASS. --probe must fill in the idle container. Pods made broken on
# purpose (scripts/lab add-pod --broken-container hostnet|otherns) must FAIL, naming the
# container. All traffic stays inside the lab's namespaces.
#
# Exit 0 = pass, 1 = fail, 77 = skipped (not root; with PODPATH_NO_SKIP=1 that fails instead).
# Uses $PODPATH_BIN (set by CTest), else REPO_ROOT/build/userspace/cli/podpath. Lab name: sit.
# shellcheck disable=SC2016  # jq and awk programs: their $variables are their own
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
P=sit
PORT=8080

require_root_and_tools socat unshare flock bpftool
require_cni_plugins
SERVER=""   # the echo server: a 'scripts/lab exec' and the socat it runs in pod B
stop_server() { if [[ -n $SERVER ]]; then kill_trees "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; fi; }
register_cleanup stop_server   # and the podpath processes in PODPATH_PIDS

no_podpath_programs() { no_podpath_programs_left 'pp_cg_(ingress|egress)'; }

# TCP segments sent in a network namespace so far (TcpOutSegs + TcpRetransSegs).
tcp_out_segs() {
  ip netns exec "$1" cat /proc/net/snmp | awk '
    $1 == "Tcp:" && !h { for (i = 2; i <= NF; i++) n[i] = $i; h = 1; next }
    $1 == "Tcp:" { for (i = 2; i <= NF; i++) if (n[i] == "OutSegs" || n[i] == "RetransSegs") s += $i; print s }'
}

# Wait until every TCP socket of a namespace has closed (only TIME_WAIT left): no more
# segments will be sent.
wait_tcp_quiet() {
  local n
  for (( n = 0; n < 100; n++ )); do
    if ! ip netns exec "$1" awk 'NR > 1 && $4 != "06" { found = 1 } END { exit !found }' /proc/net/tcp; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# connect POD CONTAINER COUNT: COUNT TCP connections from a container to the echo server,
# each sending one line and reading it back. Fails unless every echo came back.
connect() {
  local i out
  for (( i = 1; i <= $3; i++ )); do
    out=$("$LAB" exec --name "$P" "$1" -c "$2" -- sh -c "echo podpath-$2-$i | socat -t 1 - TCP:$SERVER_IP:$PORT,connect-timeout=3")
    [[ $out == "podpath-$2-$i" ]] || { echo "connection $i from $2: got '$out'"; return 1; }
  done
}

phase "0. clean slate"
"$LAB" down --name "$P" >/dev/null

phase "1. lab $P: 2 nodes x 1 pod x 3 containers, plus two pods broken on purpose"
lab_up "$P" --nodes 2 --pods-per-node 1 --containers 3
INV=$("$LAB" inventory --name "$P")
"$LAB" add-pod --name "$P" --node 1 --pod broken-hostnet --broken-container hostnet >"$TMP/add1.out" 2>&1 ||
  { cat "$TMP/add1.out"; fail "add-pod --broken-container hostnet"; exit 1; }
"$LAB" add-pod --name "$P" --node 1 --pod shop/broken-otherns --broken-container otherns >"$TMP/add2.out" 2>&1 ||
  { cat "$TMP/add2.out"; fail "add-pod --broken-container otherns"; exit 1; }
pass "lab up, two pods added"
check "add-pod updated the inventory (4 pods, the broken containers listed)" jq -e '
  (.pods | length) == 4
  and ([.pods[] | select(.name == "broken-hostnet") | .containers[].name] == ["app", "sidecar", "debug-hostnet"])
  and ([.pods[] | select(.name == "broken-otherns") | .containers[].name] == ["app", "sidecar", "debug-otherns"])' "$INV" >/dev/null
check "add-pod refuses a pod name that is taken" \
  bash -c "! '$LAB' add-pod --name $P --pod broken-hostnet >/dev/null 2>&1"
check "add-pod rejects an unknown --broken-container kind (exit 2)" \
  bash -c "'$LAB' add-pod --name $P --broken-container sideways >/dev/null 2>&1; test \$? -eq 2"

read -r A A_IP A_NETNS A_NODE < <(jq -r '.pods[] | select(.node == "node1" and (.name | startswith("web-"))) |
  [(.namespace + "/" + .name), .ip, .netns, .node] | @tsv' "$INV")
read -r B SERVER_IP B_PID < <(jq -r '.pods[] | select(.node == "node2") |
  [(.namespace + "/" + .name), .ip, (.containers[0].pid | tostring)] | @tsv' "$INV")
mapfile -t A_CONTAINERS < <(jq -r --arg p "$A" '.pods[] | select(.namespace + "/" + .name == $p) | .containers[].name' "$INV")
echo "pod A $A ($A_IP, $A_NETNS on $A_NODE; containers ${A_CONTAINERS[*]}), server pod B $B ($SERVER_IP)"
[[ ${#A_CONTAINERS[@]} -eq 3 ]] || { fail "pod A has 3 containers"; exit 1; }
C1=${A_CONTAINERS[0]} C2=${A_CONTAINERS[1]} C3=${A_CONTAINERS[2]}

phase "2. echo server in pod B (node2)"
"$LAB" exec --name "$P" "$B" -- socat TCP-LISTEN:$PORT,reuseaddr,fork PIPE >"$TMP/server.log" 2>&1 &
SERVER=$!
# A TCP socket listens on PORT in pod B's network namespace.
server_listens() {
  awk -v p="$(printf ':%04X' "$PORT")" '$2 ~ p"$" && $4 == "0A" { f = 1 } END { exit !f }' "/proc/$B_PID/net/tcp"
}
for (( n = 0; n < 100; n++ )); do
  if server_listens; then break; fi
  sleep 0.05
done
check "echo server listens on $SERVER_IP:$PORT" server_listens

phase "3. two containers of $A connect to $B; shared-ip watches"
start_podpath "$TMP/a.json" shared-ip --lab "$P" "$A" --duration 300 --output json ||
  { fail "shared-ip became ready"; exit 1; }
PP=$LAST_PID
pass "shared-ip is ready (programs attached)"
s0=$(tcp_out_segs "$A_NETNS")
check "3 connections from container $C1" connect "$A" "$C1" 3
check "TCP in $A_NETNS is quiet after $C1" wait_tcp_quiet "$A_NETNS"
s1=$(tcp_out_segs "$A_NETNS")
check "2 connections from container $C2" connect "$A" "$C2" 2
check "TCP in $A_NETNS is quiet after $C2" wait_tcp_quiet "$A_NETNS"
s2=$(tcp_out_segs "$A_NETNS")
SEGS1=$(( s1 - s0 )) SEGS2=$(( s2 - s1 ))
echo "kernel: $C1 sent $SEGS1 TCP segments, $C2 sent $SEGS2"
kill -INT "$PP"
rc=0
wait "$PP" || rc=$?
PODPATH_PIDS=()
check "shared-ip stopped by Ctrl-C reports and exits 0 (PASS)" test "$rc" -eq 0
check "shared-ip left no BPF programs behind" no_podpath_programs
cp "$TMP/a.json" "$TMP/a.keep.json"
jqa() { jq -e --arg p "$A" --arg ip "$A_IP" --arg ns "$A_NETNS" "$@" "$TMP/a.json" >/dev/null; }
check "verdict PASS for $A" jqa '.verdict == "PASS" and .pods[0].pod == $p and .pods[0].verdict == "PASS"'
check "the pod's namespace is named" jqa '.pods[0].netns.label == $ns and .pods[0].netns.cookie > 0'
for c in "$C1" "$C2"; do
  check "$c: ok, only the pod IP, from the pod's namespace" jqa --arg c "$c" '
    .pods[0] as $pod | .pods[0].containers[] | select(.name == $c)
    | .status == "ok" and .netns.cookie == $pod.netns.cookie
      and ([.addresses[].ip] == [$ip]) and ([.addresses[].kind] == ["pod-ip"])
      and ([.addresses[].netns.cookie] == [$pod.netns.cookie])'
done
check "$C1 sent exactly the $SEGS1 segments the kernel counted, over 3 connections" jqa --arg c "$C1" --argjson n "$SEGS1" '
  .pods[0].containers[] | select(.name == $c) | .addresses[0] | .tx_packets == $n and .flows == 3 and .rx_packets > 0'
check "$C2 sent exactly the $SEGS2 segments the kernel counted, over 2 connections" jqa --arg c "$C2" --argjson n "$SEGS2" '
  .pods[0].containers[] | select(.name == $c) | .addresses[0] | .tx_packets == $n and .flows == 2 and .rx_packets > 0'
check "$C3 (idle) is 'no traffic seen'" jqa --arg c "$C3" '
  .pods[0].containers[] | select(.name == $c) | .status == "no traffic seen" and (.addresses | length) == 0'
check "the summary names the idle container" jqa --arg c "$C3" '.pods[0].summary | contains("no traffic seen from " + $c)'

phase "4. --probe fills in the idle container"
rc=0
"$PODPATH" shared-ip --lab "$P" "$A" --probe --output json >"$TMP/probe.json" 2>"$TMP/probe.err" || rc=$?
check "shared-ip --probe exits 0 (PASS)" test "$rc" -eq 0
for c in "${A_CONTAINERS[@]}"; do
  check "$c: probed, one SYN out and one RST in, from the pod IP" jq -e --arg c "$c" --arg ip "$A_IP" '
    .pods[0].containers[] | select(.name == $c)
    | .status == "ok" and (.addresses | length) == 1 and .addresses[0].ip == $ip
      and .addresses[0].tx_packets == 1 and .addresses[0].rx_packets == 1' "$TMP/probe.json" >/dev/null
done

phase "5. pods broken on purpose FAIL, naming the container"
rc=0
"$PODPATH" shared-ip --lab "$P" broken-hostnet --probe >"$TMP/hostnet.txt" 2>&1 || rc=$?
cat "$TMP/hostnet.txt"
check "broken-hostnet: exit 1" test "$rc" -eq 1
check "broken-hostnet: FAIL names debug-hostnet, the node's bridge IP and namespace" \
  grep -qE "^  FAIL: container debug-hostnet used 10\.10\.129\.1 from $P-node1 \(node node1, host network\) instead of the pod IP" "$TMP/hostnet.txt"
check "broken-hostnet: app and sidecar are ok" bash -c "grep -qE '^  app +$P-pod-.* ok\$' '$TMP/hostnet.txt' &&
  grep -qE '^  sidecar +$P-pod-.* ok\$' '$TMP/hostnet.txt'"
OTHER_IP=$(jq -r '.pods[] | select(.name == "broken-otherns") | .containers[] | select(.name == "debug-otherns") | .ip' "$INV")
OTHER_NS=$(jq -r '.pods[] | select(.name == "broken-otherns") | .containers[] | select(.name == "debug-otherns") | .netns' "$INV")
rc=0
"$PODPATH" shared-ip --lab "$P" shop/broken-otherns --probe --output json >"$TMP/otherns.json" 2>/dev/null || rc=$?
check "broken-otherns: exit 1" test "$rc" -eq 1
check "broken-otherns: debug-otherns WRONG with its own IP $OTHER_IP in $OTHER_NS" jq -e --arg ip "$OTHER_IP" --arg ns "$OTHER_NS" '
  .verdict == "FAIL" and (.pods[0].summary | startswith("container debug-otherns used " + $ip + " from " + $ns))
  and (.pods[0].containers[] | select(.name == "debug-otherns")
       | .status == "WRONG" and .addresses[0].ip == $ip and .addresses[0].kind == "other-namespace"
         and .netns.label == $ns)' "$TMP/otherns.json" >/dev/null

phase "6. --all and errors"
rc=0
"$PODPATH" shared-ip --lab "$P" --all --probe --output json >"$TMP/all.json" 2>/dev/null || rc=$?
check "--all: exit 1, FAIL overall, 2 pods PASS and 2 FAIL" bash -c "test $rc -eq 1 && jq -e '
  .verdict == \"FAIL\" and ([.pods[] | select(.verdict == \"PASS\")] | length) == 2
  and ([.pods[] | select(.verdict == \"FAIL\")] | length) == 2' '$TMP/all.json' >/dev/null"
rc=0
"$PODPATH" shared-ip --lab "$P" no-such-pod >"$TMP/err.out" 2>"$TMP/err.err" || rc=$?
check "unknown pod: exit 2, one line naming it" bash -c "test $rc -eq 2 && test \$(wc -l <'$TMP/err.err') -eq 1 &&
  grep -q \"unknown pod 'no-such-pod'\" '$TMP/err.err'"
rc=0
"$PODPATH" shared-ip --lab nolab9 x >/dev/null 2>"$TMP/nolab.err" || rc=$?
check "no such lab: exit 2" bash -c "test $rc -eq 2 && grep -q \"no lab named 'nolab9'\" '$TMP/nolab.err'"
check "no podpath cgroup programs are left" no_podpath_programs

phase "7. teardown"
stop_server
server_gone() { ! server_listens; }
check "the echo server (a process tree) is gone from pod B" server_gone
"$LAB" down --name "$P" >/dev/null
check "lab $P removed (no namespaces, cgroup or data dir)" bash -c "
  ! ip netns list | grep -qE '^$P-' && ! test -e /run/podpath-lab/$P &&
  ! test -e \"\$(awk '\$9 == \"cgroup2\" { print \$5; exit }' /proc/self/mountinfo)/podpath-lab.$P\""

echo
finish shared_ip_test
