#!/usr/bin/env bash
# `podpath check SRC DST --cluster` against lab-mode `podpath check` (issue 13): one agent per
# lab node (`scripts/lab agents start`), the client in the root namespace reaching them over
# their unix sockets. On a healthy lab and after every `scripts/lab break` kind, both run on
# the same SRC and DST and must give the same exit code, verdict (kind, summary without the
# round-trip time, hop), reachability and drops (place, interface, reason, function,
# direction, count). Then: the agent's rate limit as one line naming when to retry, and an
# agent on the path that does not answer makes the verdict "unknown: agent on node2
# unreachable since HH:MM:SS", never a drop or "lost".
#
# The agent takes 3 checks at once, then one per 10 s: the agents are restarted before every
# third cluster check instead of waiting.
#
#   tests/integration/cluster_check_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
# shellcheck disable=SC2016  # jq programs: their $variables are their own
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools curl openssl iptables
register_cleanup
cleanup_cluster_check() {
  local rc=$?
  "$LAB" heal --name "$L" >/dev/null 2>&1 || true
  cleanup_common
  exit "$rc"
}
trap cleanup_cluster_check EXIT

L="cck"
TCP_PORT=7070 UDP_PORT=7071
lab_up "$L"
A=$(pod_field $L node1 0 name)   # the source, on node1
C=$(pod_field $L node2 0 name)   # the destination, on node2
C_IP=$(pod_field $L node2 0 ip)
echo "pods: $A (node1) -> $C $C_IP (node2)"

agents_restart() {
  "$LAB" agents --name $L stop >/dev/null 2>&1 || true
  "$LAB" agents --name $L start --podpath "$PODPATH" -- --interval 0.5 >"$TMP/agents.out" 2>&1 ||
    { cat "$TMP/agents.out"; fail "scripts/lab agents start"; finish cluster_check_test; }
  CHECKS=0
}
CHECKS=3
# run_pair NAME ARGS...: lab-mode check and check --cluster, JSON in $TMP/NAME.{lab,cluster}.json,
# exit codes in LAB_RC and CLUSTER_RC. With BREAK set (scripts/lab break's arguments), each
# check gets the fault freshly made: the kernel state one check leaves (a neighbour entry that
# failed, a cached route MTU) would otherwise change what the next one sees.
BREAK=()
run_pair() {
  local name=$1
  shift
  (( CHECKS < 3 )) || agents_restart
  LAB_RC=0 CLUSTER_RC=0
  fresh_fault
  "$PODPATH" check --lab $L --output json "$@" >"$TMP/$name.lab.json" 2>"$TMP/$name.lab.err" || LAB_RC=$?
  fresh_fault
  "$PODPATH" check --cluster --lab $L --output json "$@" >"$TMP/$name.cluster.json" 2>"$TMP/$name.cluster.err" ||
    CLUSTER_RC=$?
  CHECKS=$((CHECKS + 1))
}
fresh_fault() {
  (( ${#BREAK[@]} )) || return 0
  "$LAB" heal --name $L >"$TMP/heal.log" 2>&1 || { cat "$TMP/heal.log"; fail "heal"; }
  "$LAB" break --name $L "${BREAK[@]}" >"$TMP/break.log" 2>&1 || { cat "$TMP/break.log"; fail "break ${BREAK[*]}"; }
}
# What must agree (not timings: rtt, latencies, durations).
shape='{reachable, kind: .verdict.kind, summary: (.verdict.summary | sub(", rtt [0-9.]+ ms"; "")), hop: .verdict.hop,
        drops: [.drops[] | {place, interface, reason, function, direction, count}],
        mtu: (.mtu_probe | if . == null then null else {size, sent, answered} end)}'
compare() {  # NAME EXPECTED_KIND EXPECTED_RC
  local name=$1 kind=$2 rc=$3 lab cluster
  lab=$(jq -S "$shape" "$TMP/$name.lab.json" 2>/dev/null || echo "no JSON: $(cat "$TMP/$name.lab.err")")
  cluster=$(jq -S "$shape" "$TMP/$name.cluster.json" 2>/dev/null || echo "no JSON: $(cat "$TMP/$name.cluster.err")")
  check_eq "$name: lab-mode check says $kind" "$kind" "$(jq -r .verdict.kind "$TMP/$name.lab.json" 2>/dev/null)"
  check_eq "$name: lab-mode exit $rc" "$rc" "$LAB_RC"
  check_eq "$name: check --cluster exits as lab-mode check" "$LAB_RC" "$CLUSTER_RC"
  if [[ $lab == "$cluster" ]]; then
    pass "$name: check --cluster equals lab-mode check ($(jq -r .verdict.summary "$TMP/$name.cluster.json"))"
  else
    fail "$name: check --cluster differs from lab-mode check"
    diff <(echo "$lab") <(echo "$cluster") | head -30 || true
  fi
}
# fault NAME "BREAK ARGS" EXPECTED_KIND [CHECK ARGS...]
fault() {
  local name=$1 brk=$2 kind=$3
  shift 3
  read -r -a BREAK <<<"$brk"
  phase "$name: scripts/lab break $brk (for each check afresh)"
  run_pair "$name" "$A" "$C" "$@"
  compare "$name" "$kind" 1
  BREAK=()
  "$LAB" heal --name $L >"$TMP/heal.log" 2>&1 || { cat "$TMP/heal.log"; fail "heal after $name"; }
}

phase "healthy: ICMP"
run_pair healthy "$A" "$C"
compare healthy reachable 0
check "the text view is lab-mode check's" bash -c "'$PODPATH' check --cluster --lab $L '$A' '$C' | grep -q '^REACHABLE  reachable: 3/3 answered'"
CHECKS=$((CHECKS + 1))

fault gateway-route "gateway-route node2" no_route
fault firewall "firewall node2" firewall
fault veth-down "veth-down $C" link_down
fault wrong-route "wrong-route node2" routing_loop
fault arp "arp $C" neighbour
fault port-closed-tcp "port-closed $C $TCP_PORT tcp" port_closed --proto tcp --port "$TCP_PORT"
fault port-closed-udp "port-closed $C $UDP_PORT udp" port_closed --proto udp --port "$UDP_PORT"
fault mtu "mtu node2" mtu

phase "the agent's rate limit: one line naming when to retry"
# Fresh agents take 3 checks at once, then one per 10 s: checks in a row soon get a 429.
agents_restart
rc=0 tries=0
while (( tries < 6 )); do
  tries=$((tries + 1))
  rc=0
  "$PODPATH" check --cluster --lab $L "$A" "$C" >"$TMP/limited.out" 2>"$TMP/limited.err" || rc=$?
  (( rc == 0 )) || break
done
cat "$TMP/limited.err"
check "the limiter refused one of the first checks in a row (after $tries)" test "$tries" -ge 4 -a "$tries" -le 5
check_eq "refused: exit 2 (the check could not run)" 2 "$rc"
check_eq "one line" 1 "$(wc -l <"$TMP/limited.err")"
check "it names the agent, the limit and when to retry" \
  grep -Eq 'agent on node1 takes no check now \(HTTP 429: too many checks.*\): retry in [0-9]+ s, at [0-9]{2}:[0-9]{2}:[0-9]{2}$' \
  "$TMP/limited.err"

phase "node2's agent down and node2's firewall dropping: unknown, never a drop or lost"
agents_restart
kill -9 "$(cat "/run/podpath-lab/$L/agents/node2.pid")"
"$LAB" break --name $L firewall node2 >/dev/null
rc=0
"$PODPATH" check --cluster --lab $L --output json "$A" "$C" >"$TMP/down.json" 2>"$TMP/down.err" || rc=$?
check_eq "exit 1: the probes got no answer" 1 "$rc"
check_eq "verdict kind unknown" unknown "$(jq -r .verdict.kind "$TMP/down.json")"
check "the verdict names the agent and how far the probes were seen" jq -e \
  '.verdict.summary | test("^unknown: agent on node2 unreachable since [0-9]{2}:[0-9]{2}:[0-9]{2}; seen up to node1 eth0 egress$")' \
  "$TMP/down.json"
check "node2's hops are unknown, none missing" jq -e \
  '(.request.hops | map(select(.node == "node2"))) as $n2 | ($n2 | length > 0 and all(.state == "unknown"))
   and ([.request.hops[] | select(.state == "missing")] | length == 0)' "$TMP/down.json"
text=$("$PODPATH" check --cluster --lab $L "$A" "$C" 2>&1 || true)
says_unknown() { [[ $text == *"unknown: agent on node2 unreachable since"* && $text != *"NOT SEEN"* ]]; }
check "the text view says unknown, never NOT SEEN" says_unknown
"$LAB" heal --name $L >/dev/null

phase "agents found through the Kubernetes API: the client in the lab's gateway namespace"
# The lab API server serves every ready agent as a pod of the podpath DaemonSet (namespace
# podpath, app.kubernetes.io/name=podpath, hostNetwork: its address is its node's). The client
# runs where a cluster-internal client would, in the gateway namespace: the API at 10.0.0.1:6443
# (the in-cluster kubeconfig), the agents at https://<node IP>:9990 with the lab's CA and token.
# No --agents, no --lab: discovery is the API's alone.
agents_restart
KIN=$("$LAB" kubeconfig --name $L --in-cluster)
GW=$(jq -r .gateway.netns "$(inventory_of $L)")
PKI=/run/podpath-lab/$L/pki
in_gw() { ip netns exec "$GW" "$PODPATH" "$@" --cluster --kubeconfig "$KIN" --ca "$PKI/ca.crt" --token-file "$PKI/agent-token"; }
kube_agents() { in_gw trace --once --output json 2>"$TMP/kube.err" | jq -c '[.agents[] | {node, address, state}] | sort_by(.node)'; }
want='[{"node":"node1","address":"https://10.0.0.2:9990","state":"reachable"},{"node":"node2","address":"https://10.0.0.3:9990","state":"reachable"}]'
got=""
for _ in $(seq 50); do
  got=$(kube_agents || true)
  [[ $got == "$want" ]] && break
  sleep 0.2
done
check_eq "trace --cluster --kubeconfig finds both agents at their nodes' addresses, both reachable" "$want" "$got"
LAB_RC=0 CLUSTER_RC=0
"$PODPATH" check --lab $L --output json "$A" "$C" >"$TMP/kube.lab.json" 2>"$TMP/kube.lab.err" || LAB_RC=$?
in_gw check "$A" "$C" --output json >"$TMP/kube.cluster.json" 2>"$TMP/kube.cluster.err" || CLUSTER_RC=$?
CHECKS=$((CHECKS + 1))
compare kube reachable 0
check "the pods are named by the API" jq -e --arg a "$A" '.src.name | endswith("/" + $a)' "$TMP/kube.cluster.json"

phase "bad input is one line, exit 2"
bad() {
  local desc=$1 rc=0
  shift
  "$PODPATH" check --cluster --lab $L "$@" >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
  check_eq "$desc: exit 2" 2 "$rc"
  check_eq "$desc: one line" 1 "$(wc -l <"$TMP/bad.err")"
}
bad "a node as source" node1 "$C"
bad "--count (the agent's probes are fixed)" "$A" "$C" --count 5
bad "--passive" --passive

"$LAB" agents --name $L stop >/dev/null
finish cluster_check_test
