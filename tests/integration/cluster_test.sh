#!/usr/bin/env bash
# The acceptance test of the cluster view (issue 13): one agent per lab node
# (`scripts/lab agents start`), the client in the root namespace reaching them over their unix
# sockets only (no route to the lab), and the single-process `trace --lab` over the same traffic.
#   - trace --cluster and trace --lab give the same conversations, the same hops in the same
#     order, the same route on each hop and the same packet counts, to the packet
#   - an agent killed: its node's hops are "unknown: agent on node2 unreachable since HH:MM:SS",
#     never NOT SEEN / missing, and the header and verdict say so; restarted: the running
#     client reconnects
#   - paths --cluster and matrix --cluster once each
#
#   tests/integration/cluster_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools curl openssl
register_cleanup

L="cv"
lab_up "$L"
A_NAME=$(pod_field $L node1 0 name)   # node1 pod
A_IP=$(pod_field $L node1 0 ip)
B_IP=$(pod_field $L node1 1 ip)       # second node1 pod
C_NAME=$(pod_field $L node2 0 name)   # node2 pod
C_IP=$(pod_field $L node2 0 ip)
echo "pods: $A_NAME $A_IP, $B_IP (node1), $C_NAME $C_IP (node2)"
ping_from() {  # ping_from POD DST COUNT
  "$LAB" exec --name $L "$1" -- ping -q -c "$3" -i 0.05 -W 1 "$2" >/dev/null
}
cluster_once() {  # the cluster view, one JSON snapshot, through the lab's agents
  "$PODPATH" trace --cluster --lab $L --once --output json 2>>"$TMP/cluster.err"
}

phase "one agent per node, and trace --lab, both attached before the traffic"
"$LAB" agents --name $L start --podpath "$PODPATH" -- --interval 0.5 >"$TMP/agents.out" 2>&1 ||
  { cat "$TMP/agents.out"; fail "scripts/lab agents start"; finish cluster_test; }
check "every agent ready" "$LAB" agents --name $L status
start_podpath "$TMP/trace.ndjson" trace --lab $L --output json --interval 0.5 --no-containers
TRACE=$LAST_PID
no_lab_route() { ! ip route show | grep -Eq '^(10\.10\.1(29|30)\.0/24|10\.0\.0\.0/24) '; }
check "the root namespace has no route to the lab's networks (the client uses unix sockets)" no_lab_route

phase "traffic: 20 pings node1 -> node2, 10 within node1, 7 node2 -> node1"
ping_from "$A_NAME" "$C_IP" 20
ping_from "$A_NAME" "$B_IP" 10
ping_from "$C_NAME" "$A_IP" 7

# The counts settle once both the agents and trace have refreshed after the last reply: wait
# until the cluster view counts every reply, then until trace printed two more snapshots.
conv() {  # JSON SRC DST: the ICMP conversation of a snapshot
  jq -c --arg s "$2" --arg d "$3" '.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d)' <<<"$1"
}
settled=""
for _ in $(seq 100); do
  snap=$(cluster_once)
  if [[ $(conv "$snap" "$A_IP" "$C_IP" | jq '.reverse.packets') == 20 &&
        $(conv "$snap" "$A_IP" "$B_IP" | jq '.reverse.packets') == 10 &&
        $(conv "$snap" "$C_IP" "$A_IP" | jq '.reverse.packets') == 7 ]]; then
    settled=1
    break
  fi
  sleep 0.2
done
check "the cluster view counted every reply" test -n "$settled"
lines=$(wc -l <"$TMP/trace.ndjson")
for _ in $(seq 100); do
  (( $(wc -l <"$TMP/trace.ndjson") >= lines + 2 )) && break
  sleep 0.1
done
stop_podpath $TRACE TERM
check_eq "trace --lab stopped cleanly" 0 "$STOP_RC"
single=$(tail -n 1 "$TMP/trace.ndjson")
cluster=$(cluster_once)
echo "$cluster" >"$TMP/cluster.json"
echo "$single" >"$TMP/single.json"
AC_ID=$(conv "$single" "$A_IP" "$C_IP" | jq .sport)   # the echo id of the 20 pings node1 -> node2
ac() {  # JSON: that conversation
  jq -c --argjson id "$AC_ID" --arg s "$A_IP" --arg d "$C_IP" \
    '.flows[] | select(.proto == "ICMP" and .sport == $id and .forward.src == $s and .forward.dst == $d)' <<<"$1"
}

# What must agree: the conversations (both ends, protocol, ports), each direction's packets,
# and every hop in order with its node, interface, direction, role, state, route and packets
# and note (rates and times are samples of different refreshes).
shape='[.flows[] | select(.proto == "ICMP") | {src: .src.ip, dst: .dst.ip, proto, sport, dport,
  forward: (.forward | {packets, complete, verdict,
                        hops: [.hops[] | {node, interface, direction, role, state, route, note, packets}]}),
  reverse: (.reverse | if . == null then null else {packets, complete, verdict,
                        hops: [.hops[] | {node, interface, direction, role, state, route, note, packets}]} end)}]
  | sort_by(.src, .dst, .sport, .dport)'
from_cluster=$(jq -S "$shape" <<<"$cluster")
from_single=$(jq -S "$shape" <<<"$single")
check_eq "three ICMP conversations through the agents" 3 "$(jq length <<<"$from_cluster")"
if [[ $from_cluster == "$from_single" ]]; then
  pass "trace --cluster equals trace --lab: conversations, hops in order, routes, packets"
else
  fail "trace --cluster and trace --lab differ"
  diff <(echo "$from_single") <(echo "$from_cluster") | head -40 || true
fi
keys='[.flows[] | [.src.ip, .dst.ip, .proto, .sport, .dport] | tostring] | sort'
check_eq "the same conversations, every protocol" "$(jq -c "$keys" <<<"$single")" "$(jq -c "$keys" <<<"$cluster")"
check_eq "node1 -> node2 crosses both nodes and the gateway: 7 hops" \
  "node1 node1 node1 gateway node2 node2 node2" \
  "$(ac "$cluster" | jq -r '[.forward.hops[].node] | join(" ")')"
# The requests (echo request, dport 8<<8) and the replies (dport 0) of the 20 pings: one
# conversation, whichever direction it is keyed by.
check_eq "one conversation per flow, never two (node1 and node2 both saw it and its replies)" 1 \
  "$(jq --argjson id "$AC_ID" --arg s "$A_IP" --arg d "$C_IP" '[.flows[] | select(.proto == "ICMP" and .sport == $id and
      ((.forward.src == $s and .forward.dst == $d and .dport == 2048) or (.forward.src == $d and .forward.dst == $s and .dport == 0)))] | length' <<<"$cluster")"
check "the gateway hop is virtual, with its route" jq -e \
  '[.forward.hops[] | select(.node == "gateway")] | length == 1 and .[0].state == "virtual" and (.[0].route | length) > 0' \
  <<<"$(ac "$cluster")" >/dev/null

phase "paths --cluster and matrix --cluster"
paths=$("$PODPATH" paths --cluster --lab $L "$A_NAME" "$C_IP" --duration 0.2 --output json)
paths_ac=$(jq -c --argjson id "$AC_ID" --arg s "$A_IP" '.[] | select(.sport == $id and .forward.src == $s)' <<<"$paths")
check_eq "paths --cluster: the node1 -> node2 conversation with every hop and the 20 requests" \
  "7 20" "$(jq -r '"\(.forward.hops | length) \(.forward.packets)"' <<<"$paths_ac")"
check_eq "paths --cluster's hops are trace --lab's" \
  "$(ac "$single" | jq -c '[.forward.hops[] | {node, interface, route}]')" \
  "$(jq -c '[.forward.hops[] | {node, interface, route}]' <<<"$paths_ac")"
# The matrix is what the agents counted between its start and its end (Ctrl-C): end it once the
# agents served every reply of 9 more pings (their metrics come from the same refresh).
start_podpath "$TMP/matrix.json" matrix --cluster --lab $L --duration 120 --output json
MATRIX=$LAST_PID
ping_from "$A_NAME" "$C_IP" 9
replies() {  # every reply node2 sent node1's pod so far, through the agents
  cluster_once | jq --arg s "$A_IP" --arg d "$C_IP" \
    '[.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d) | .reverse.packets] | add'
}
for _ in $(seq 100); do [[ $(replies) == 29 ]] && break; sleep 0.2; done
# An agent updates its metrics just after it publishes the flows of a refresh: wait for two more
# refreshes of each, so that its counters hold the last request.
seq_of() { curl -fsS --max-time 5 --unix-socket "/run/podpath-lab/$L/agents/$1.sock" http://agent/v1/node | jq .refresh.seq; }
s1=$(seq_of node1) s2=$(seq_of node2)
for _ in $(seq 100); do
  (( $(seq_of node1) >= s1 + 2 && $(seq_of node2) >= s2 + 2 )) && break
  sleep 0.1
done
stop_podpath $MATRIX INT
check_eq "matrix --cluster ends on Ctrl-C with exit 0" 0 "$STOP_RC"
got=$(jq '[.matrix[] | select(.src.label == "node1 pods" and .dst.label == "node2 pods") | .packets] | add' "$TMP/matrix.json")
check_eq "matrix --cluster: node1 pods -> node2 pods counted once across the agents" 9 "$got"

phase "an agent killed: node2's hops are unknown, not missing; restarted: the client reconnects"
start_podpath "$TMP/live.ndjson" trace --cluster --lab $L --output json --interval 0.3
LIVE=$LAST_PID
N2PID=$(cat "/run/podpath-lab/$L/agents/node2.pid")
kill -9 "$N2PID"
last_live() { tail -n 1 "$TMP/live.ndjson"; }
state_of() { last_live | jq -r --arg n "$1" '.agents[] | select(.node == $n) | .state'; }
for _ in $(seq 100); do [[ $(state_of node2) == unreachable ]] && break; sleep 0.1; done
check_eq "the running client sees node2's agent unreachable" unreachable "$(state_of node2)"
down=$(cluster_once)
check "the header names it: agent on node2 unreachable since HH:MM:SS" \
  jq -e '.cluster | test("node2 unreachable since [0-9]{2}:[0-9]{2}:[0-9]{2}")' <<<"$down" >/dev/null
fwd=$(ac "$down")
check "node1's half still observed, 20 packets at its uplink" jq -e \
  '[.forward.hops[] | select(.node == "node1" and .interface == "eth0")][0] | .state == "observed" and .packets == 20' <<<"$fwd" >/dev/null
check "node2's hops: unknown: agent on node2 unreachable since HH:MM:SS" jq -e \
  '[.forward.hops[] | select(.node == "node2")] | length == 3 and all(.state == "unknown" and (.note | test("^unknown: agent on node2 unreachable since [0-9]{2}:[0-9]{2}:[0-9]{2}")))' <<<"$fwd" >/dev/null
check "no hop missing" jq -e '[.forward.hops[], .reverse.hops[]? | select(.state == "missing")] | length == 0' <<<"$fwd" >/dev/null
check "the verdict says so" jq -e '.forward.verdict | startswith("unknown: agent on node2 unreachable since")' <<<"$fwd" >/dev/null
text=$("$PODPATH" trace --cluster --lab $L --once --plain 2>&1)
says_unknown() { [[ $text == *"unknown: agent on node2 unreachable since"* && $text != *"NOT SEEN"* && $text != *MISSING* ]]; }
check "the text view says unknown, never NOT SEEN or MISSING" says_unknown
"$LAB" agents --name $L start --podpath "$PODPATH" -- --interval 0.5 >"$TMP/agents2.out" 2>&1 ||
  { cat "$TMP/agents2.out"; fail "restarting node2's agent"; }
for _ in $(seq 200); do [[ $(state_of node2) == reachable ]] && break; sleep 0.1; done
check_eq "the running client reconnected to node2's new agent" reachable "$(state_of node2)"
stop_podpath $LIVE TERM
check_eq "trace --cluster stops cleanly on SIGTERM" 0 "$STOP_RC"
no_crash() { ! grep -qi 'exception\|terminate' "$TMP/cluster.err"; }
check "no exception or abort from the cluster client" no_crash

"$LAB" agents --name $L stop >/dev/null
finish cluster_test
