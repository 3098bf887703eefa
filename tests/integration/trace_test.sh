#!/usr/bin/env bash
# Integration test of the loader and `podpath trace` / `podpath matrix` on the lab:
# routed paths with exact counts, same-node bridging, the CIDR matrix, pods that appear
# after start, clean detach on SIGTERM, recovery after kill -9, a foreign TC filter left
# working throughout, and a second podpath refused on the same classic TC slot.
#
#   tests/integration/trace_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools bpftool
register_cleanup

L="tr"
lab_up "$L"
N1=$L-node1
A_NAME=$(pod_field $L node1 0 name)   # node1 pod
A_IP=$(pod_field $L node1 0 ip)
B_IP=$(pod_field $L node1 1 ip)       # second node1 pod
C_IP=$(pod_field $L node2 0 ip)       # node2 pod
A_CTR=$(jq -r --arg n "$A_NAME" '.pods[] | select(.name == $n) | .containers[0].name' "$(inventory_of $L)")
echo "pods: $A_NAME $A_IP, $B_IP (node1), $C_IP (node2)"

ping_from() {  # ping_from POD DST COUNT
  "$LAB" exec --name $L "$1" -- ping -q -c "$3" -i 0.05 -W 1 "$2" >/dev/null
}

phase "a foreign TC filter on node1 eth0 (another owner's, priority 1 handle 1), counting packets"
FOREIGN=${FOREIGN_TC_OBJ:-$ROOT/build/tests/integration/foreign_tc.bpf.o}
[[ -f $FOREIGN ]] || { echo "FAIL: $FOREIGN not built"; exit 1; }
ip netns exec $N1 tc qdisc add dev eth0 clsact
ip netns exec $N1 tc filter add dev eth0 ingress prio 1 handle 1 bpf da obj "$FOREIGN" sec tc
foreign_packets() {  # the u64 counter, printed little-endian byte by byte (no BTF)
  local hex
  hex=$(bpftool map dump name foreign_count -j | jq -r '.[0].value | reverse | map(ltrimstr("0x")) | join("")')
  echo $((16#$hex))
}
foreign_present() { [[ $(ip netns exec $N1 tc filter show dev eth0 ingress) == *'name foreign_tc'* ]]; }

phase "trace --output json while node1 pod pings a node2 pod (20) and a node1 pod (10)"
OUT=$TMP/trace.ndjson
start_podpath "$OUT" trace --lab $L --output json --interval 0.5
TRACE=$LAST_PID
before=$(foreign_packets)
ping_from "$A_NAME" "$C_IP" 20
ping_from "$A_NAME" "$B_IP" 10
sleep 1.2   # two refreshes at --interval 0.5, so the last snapshot holds every reply
stop_podpath $TRACE TERM
check_eq "trace exits 0 on SIGTERM" 0 "$STOP_RC"
last=$(tail -n 1 "$OUT")
conv() {  # conv SRC DST: the ICMP conversation between two IPs
  jq -c --arg s "$1" --arg d "$2" '.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d)' <<<"$last"
}
cross=$(conv "$A_IP" "$C_IP")
check "cross-node conversation reported" test -n "$cross"
check_eq "request packets" 20 "$(jq '.forward.packets' <<<"$cross")"
check_eq "reply packets" 20 "$(jq '.reverse.packets' <<<"$cross")"
check_eq "request observed at six points" 6 "$(jq '[.forward.hops[] | select(.observed)] | length' <<<"$cross")"
check_eq "reply observed at six points" 6 "$(jq '[.reverse.hops[] | select(.observed)] | length' <<<"$cross")"
check_eq "every observed request hop counted 20" "[20]" "$(jq -c '[.forward.hops[] | select(.observed) | .packets] | unique' <<<"$cross")"
check_eq "every observed reply hop counted 20" "[20]" "$(jq -c '[.reverse.hops[] | select(.observed) | .packets] | unique' <<<"$cross")"
check_eq "request path in traversal order" \
  "node1/pod_veth/ingress node1/bridge/ingress node1/uplink/egress gateway/gateway/forward node2/uplink/ingress node2/bridge/egress node2/pod_veth/egress" \
  "$(jq -r '[.forward.hops[] | "\(.node)/\(.role)/\(.direction)"] | join(" ")' <<<"$cross")"
check_eq "node1 cbr0 hop explained by the default route" "0.0.0.0/0 via 10.0.0.1 dev eth0" \
  "$(jq -r '.forward.hops[] | select(.node == "node1" and .role == "bridge") | .route' <<<"$cross")"
check_eq "gateway hop explained by its route to node2's pods" "10.10.130.0/24 via 10.0.0.3" \
  "$(jq -r '.forward.hops[] | select(.role == "gateway") | .route' <<<"$cross" | sed 's/ dev .*//')"
check_eq "node2 cbr0 hop explained by the local pod CIDR" "10.10.130.0/24 dev cbr0" \
  "$(jq -r '.forward.hops[] | select(.node == "node2" and .role == "bridge") | .route' <<<"$cross")"
check_eq "request path complete" true "$(jq '.forward.complete' <<<"$cross")"
check_eq "request attributed to the container that pinged" "$A_CTR" "$(jq -r '.forward.container' <<<"$cross")"
check_eq "echo replies come from the kernel, not from a container" null "$(jq -r '.reverse.container' <<<"$cross")"
same=$(conv "$A_IP" "$B_IP")
check_eq "same-node request packets" 10 "$(jq '.forward.packets' <<<"$same")"
check_eq "same-node path: two veths, bridged on cbr0" "pod_veth/ingress pod_veth/egress" \
  "$(jq -r '[.forward.hops[] | select(.observed) | "\(.role)/\(.direction)"] | join(" ")' <<<"$same")"
check_eq "same-node reply packets" 10 "$(jq '.reverse.packets' <<<"$same")"
check_eq "no events lost, no map full" "0 0" "$(jq -r '"\(.health.events_lost_ringbuf_full) \(.health.flow_insert_full)"' <<<"$last")"
check "the foreign filter counted the cross-node packets too" test "$(foreign_packets)" -ge $((before + 20))
check "no podpath program left after SIGTERM (tcx)" no_podpath_programs_left pp_tc_

phase "trace --output json --limit 1 --sort packets: the busiest conversation only"
OUT5=$TMP/trace-limit.ndjson
start_podpath "$OUT5" trace --lab $L --output json --interval 0.5 --limit 1 --sort packets
T5=$LAST_PID
ping_from "$A_NAME" "$C_IP" 20
ping_from "$A_NAME" "$B_IP" 10
sleep 1.2
stop_podpath $T5 TERM
check_eq "limited trace exits 0" 0 "$STOP_RC"
last=$(tail -n 1 "$OUT5")
check_eq "one conversation in flows" 1 "$(jq '.flows | length' <<<"$last")"
check_eq "conversations.shown says so" 1 "$(jq '.conversations.shown' <<<"$last")"
check "conversations.total counts both pings' conversations" test "$(jq '.conversations.total' <<<"$last")" -ge 2
check_eq "the busiest by packets: the cross-node ping (20 + 20)" "$A_IP $C_IP 20" \
  "$(jq -r '.flows[0] | "\(.forward.src) \(.forward.dst) \(.forward.packets)"' <<<"$last")"

phase "trace --output json --pod B: the filter applies to JSON"
B_NAME=$(pod_field $L node1 1 name)
OUT6=$TMP/trace-pod.ndjson
start_podpath "$OUT6" trace --lab $L --output json --interval 0.5 --pod "$B_NAME"
T6=$LAST_PID
ping_from "$A_NAME" "$C_IP" 20
ping_from "$A_NAME" "$B_IP" 10
sleep 1.2
stop_podpath $T6 TERM
check_eq "filtered trace exits 0" 0 "$STOP_RC"
last=$(tail -n 1 "$OUT6")
check "some conversation kept" test "$(jq '.flows | length' <<<"$last")" -ge 1
check_eq "every conversation kept has pod B at one end" "[true]" \
  "$(jq -c --arg b "$B_IP" '[.flows[] | .forward.src == $b or .forward.dst == $b] | unique' <<<"$last")"
check_eq "matching counts the kept ones" "$(jq '.flows | length' <<<"$last")" "$(jq '.conversations.matching' <<<"$last")"
check "the cross-node conversation is left out but counted in total" \
  test "$(jq '.conversations.total' <<<"$last")" -gt "$(jq '.conversations.matching' <<<"$last")"

phase "matrix: 25 pings node1 pod -> node2 pod"
MOUT=$TMP/matrix.json
start_podpath "$MOUT" matrix --lab $L --duration 4 --output json
MATRIX=$LAST_PID
ping_from "$A_NAME" "$C_IP" 25
stop_podpath $MATRIX CONT
check_eq "matrix exits 0" 0 "$STOP_RC"
cell() { jq --arg s "$1" --arg d "$2" '[.matrix[] | select(.src.label == $s and .dst.label == $d) | .packets] | add // 0' "$MOUT"; }
check_eq "node1 pods -> node2 pods" 25 "$(cell 'node1 pods' 'node2 pods')"
check_eq "node2 pods -> node1 pods" 25 "$(cell 'node2 pods' 'node1 pods')"

phase "a pod veth created after start is attached (and forgotten when removed)"
OUT2=$TMP/trace2.ndjson
start_podpath "$OUT2" trace --lab $L --output json --interval 0.2
TRACE2=$LAST_PID
t0=$(date +%s%N)
ip netns exec $N1 ip link add vethlate0 type veth peer name vethlate1
ip netns exec $N1 ip link set vethlate0 master cbr0 up
seen=""
for _ in $(seq 100); do
  if tail -n 1 "$OUT2" | jq -e '.interfaces[] | select(.name == "vethlate0" and .role == "pod_veth")' >/dev/null 2>&1; then
    seen=$(( ($(date +%s%N) - t0) / 1000000 ))
    break
  fi
  sleep 0.05
done
check "new veth attached (seen after ${seen:-?} ms, refresh 200 ms)" test -n "$seen"
ip netns exec $N1 ip link del vethlate0
gone=""
for _ in $(seq 100); do
  if ! tail -n 1 "$OUT2" | jq -e '.interfaces[] | select(.name == "vethlate0")' >/dev/null 2>&1; then gone=1; break; fi
  sleep 0.05
done
check "removed veth forgotten" test -n "$gone"
stop_podpath $TRACE2 INT
check_eq "trace still running after churn, exits 0" 0 "$STOP_RC"

phase "classic TC (clsact): kill -9, restart, SIGTERM"
OUT3=$TMP/trace3.txt
start_podpath "$OUT3" trace --lab $L --attach clsact
T3=$LAST_PID
check_eq "one podpath filter per hook on node1 eth0" 2 "$(podpath_filters $N1 eth0)"
check_eq "one podpath filter per hook on node1 cbr0" 2 "$(podpath_filters $N1 cbr0)"
OUT4=$TMP/trace4.txt
"$PODPATH" trace --lab $L --attach clsact --once >"$OUT4" 2>&1 && rc=0 || rc=$?
check_eq "a second podpath on the same TC priority is refused" 2 "$rc"
check "and says why, naming the holder" grep -q "another podpath (pid $T3: .*) is running with classic TC priority" "$OUT4"
kill -KILL "$T3"
wait "$T3" 2>/dev/null || true
check_eq "after kill -9 its filters remain (classic TC outlives the process)" 2 "$(podpath_filters $N1 eth0)"
start_podpath "$OUT3" trace --lab $L --attach clsact
T4=$LAST_PID
check_eq "restart: exactly one podpath filter per hook on eth0" 2 "$(podpath_filters $N1 eth0)"
check_eq "restart: exactly one podpath filter per hook on cbr0" 2 "$(podpath_filters $N1 cbr0)"
check "foreign filter still present" foreign_present
before=$(foreign_packets)
ping_from "$A_NAME" "$C_IP" 5
check "foreign filter still counting while podpath runs" test "$(foreign_packets)" -ge $((before + 5))
stop_podpath $T4 TERM
check_eq "SIGTERM exits 0" 0 "$STOP_RC"
check_eq "no podpath filter left on eth0" 0 "$(podpath_filters $N1 eth0)"
check_eq "no podpath filter left on cbr0" 0 "$(podpath_filters $N1 cbr0)"
check "foreign filter survives podpath" foreign_present
check "its clsact qdisc survives (it still holds the foreign filter)" bash -c "ip netns exec $N1 tc qdisc show dev eth0 | grep -q clsact"
before=$(foreign_packets)
ping_from "$A_NAME" "$C_IP" 5
check "foreign filter still counting after podpath left" test "$(foreign_packets)" -ge $((before + 5))
check "no podpath program left" no_podpath_programs_left pp_tc_

finish
