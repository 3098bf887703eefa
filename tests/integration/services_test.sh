#!/usr/bin/env bash
# Integration test of Services (issue 16): a lab Service with two backends on two nodes,
# kube-proxy's iptables rules in the node namespaces, 20 TCP connections from a node1 pod to
# the ClusterIP. `podpath trace --output json` must show each connection as one conversation
# joined across the DNAT: the backend it got, the DNAT hop with the Service and its KUBE-SEP
# rule at the client's veth (br_netfilter runs PREROUTING in the bridge, right after the
# pod's port), the reverse DNAT on the reply, exact counts. Then
# `--cidr 10.96.0.0/12` keeps them, and the lab's Service faults behave as documented.
#
#   tests/integration/services_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools socat iptables
require_cni_plugins
register_cleanup

L="svc"
lab_up "$L" --nodes 2 --pods-per-node 2 --containers 1
CLIENT=$(pod_field $L node1 0 name)
B1=$(pod_field $L node1 1 name)
B1_IP=$(pod_field $L node1 1 ip)
B2=$(pod_field $L node2 1 name)
B2_IP=$(pod_field $L node2 1 ip)
CONNS=20

phase "a Service with a backend on each node"
out=$("$LAB" service --name $L add web --port 80 --target-port 8080 --backends "$B1,$B2")
VIP=$(tail -n 1 <<<"$out" | awk '{ print $2 }' | cut -d: -f1)
check_eq "ClusterIP from 10.96.0.0/12" 10.96.0.10 "$VIP"
for n in 1 2; do
  rules=$(ip netns exec $L-node$n iptables-save -t nat)
  check "node$n: PREROUTING jumps to KUBE-SERVICES" grep -q -- '-A PREROUTING .* -j KUBE-SERVICES' <<<"$rules"
  check "node$n: a random choice between two KUBE-SEP chains" \
    grep -q -- '-m statistic --mode random --probability 0.5' <<<"$rules"
  check_eq "node$n: two DNAT rules" 2 "$(grep -c -- '-j DNAT --to-destination' <<<"$rules")"
done
check "the root namespace has no KUBE chain" bash -c '! iptables-save 2>/dev/null | grep -q KUBE-'
SEPS=$(jq -r '.services[0].backends | map("\(.ip)=\(.sep_chain)") | join(" ")' "$(inventory_of $L)")

phase "$CONNS connections to the Service while trace runs"
OUT=$TMP/trace.ndjson
start_podpath "$OUT" trace --lab $L --output json --interval 0.5
TRACE=$LAST_PID
for ((i = 0; i < CONNS; i++)); do
  got=$(echo "hello $i" | "$LAB" exec --name $L "$CLIENT" -- socat -t 1 - "TCP:$VIP:80,connect-timeout=3")
  [[ $got == "hello $i" ]] || fail "connection $i not echoed (got '$got')"
done
sleep 1.2   # two refreshes at --interval 0.5: the last snapshot holds every reply
stop_podpath $TRACE TERM
check_eq "trace exits 0 on SIGTERM" 0 "$STOP_RC"
last=$(tail -n 1 "$OUT")
convs=$(jq -c --arg v "$VIP" '[.flows[] | select(.service.ip == $v)]' <<<"$last")
check_eq "$CONNS conversations through the Service" "$CONNS" "$(jq length <<<"$convs")"
check_eq "every conversation names the Service" '["default/web"]' "$(jq -c '[.[].service.name] | unique' <<<"$convs")"
check_eq "every conversation has a backend of the Service" "[\"$B1_IP\",\"$B2_IP\"]" \
  "$(jq -c '[.[].backend.ip] | unique | sort' <<<"$convs")"
check_eq "backend port 8080" '[8080]' "$(jq -c '[.[].backend.port] | unique' <<<"$convs")"
bad=0
while IFS= read -r c; do
  b=$(jq -r '.backend.ip' <<<"$c")
  sep=$(tr ' ' '\n' <<<"$SEPS" | sed -n "s/^$b=//p")
  want="DNAT $VIP:80 → $b:8080 (service default/web, rule $sep)"
  dnat=$(jq -c '[.forward.hops[] | select(.nat != null) | {node, role, direction, nat}]' <<<"$c")
  if [[ $dnat != "[{\"node\":\"node1\",\"role\":\"pod_veth\",\"direction\":\"ingress\",\"nat\":\"$want\"}]" ]]; then
    fail "DNAT hop of a connection to $b: $dnat"
    bad=1
  fi
  if [[ $(jq -r '[.reverse.hops[] | select(.nat != null) | .nat][0] // ""' <<<"$c") != "reverse DNAT $b:8080 → $VIP:80"* ]]; then
    fail "reply of a connection to $b is not reverse-translated: $(jq -c '.reverse.hops' <<<"$c")"
    bad=1
  fi
  # Exact counts: every hop on the predicted path saw the same packets (a same-node
  # connection's first packet also shows at cbr0 egress, off the path: br_netfilter routes
  # it before the bridge forwards the rest).
  for d in forward reverse; do
    n=$(jq -c --arg d "$d" '[.[$d].hops[] | select(.state == "observed") | .packets] | unique | length' <<<"$c")
    if [[ $n != 1 ]]; then fail "$d hops of a connection to $b counted differently: $(jq -c --arg d "$d" '[.[$d].hops[] | select(.observed) | .packets]' <<<"$c")"; bad=1; fi
  done
  if [[ $(jq -r '.forward.complete' <<<"$c") != true ]]; then fail "path to $b incomplete"; bad=1; fi
done < <(jq -c '.[]' <<<"$convs")
check_eq "every connection: DNAT at the client's veth with its rule, reverse DNAT, exact counts, complete path" 0 "$bad"
remote=$(jq -c --arg b "$B2_IP" '[.[] | select(.backend.ip == $b)][0]' <<<"$convs")
check_eq "to node2's backend: observed hops in order" \
  "node1/pod_veth/ingress node1/bridge/ingress node1/uplink/egress node2/uplink/ingress node2/bridge/egress node2/pod_veth/egress" \
  "$(jq -r '[.forward.hops[] | select(.observed) | "\(.node)/\(.role)/\(.direction)"] | join(" ")' <<<"$remote")"
check_eq "health: NAT recorded without failures" 0 "$(jq '.health.nat_insert_failed // 0' <<<"$last")"
# The CIDR matrix counts a request where it leaves the client's pod, before the DNAT: the
# session moves it from the ClusterIP range to the backend's CIDR. Only these connections
# ran, so node1 pods -> node2 pods holds exactly the requests to node2's backend.
cell() { jq --arg s "$1" --arg d "$2" '[.matrix[] | select(.src.cidr == $s and .dst.cidr == $d) | .packets] | add // 0' <<<"$last"; }
N1_CIDR=$(jq -r '.nodes[] | select(.name == "node1") | .pod_cidr' "$(inventory_of $L)")
N2_CIDR=$(jq -r '.nodes[] | select(.name == "node2") | .pod_cidr' "$(inventory_of $L)")
check_eq "matrix: nothing counted towards the service CIDR" 0 \
  "$(jq '[.matrix[] | select(.dst.kind == "services") | .packets] | add // 0' <<<"$last")"
check_eq "matrix: node1 pods -> node2 pods = the requests to node2's backend, to the packet" \
  "$(jq --arg b "$B2_IP" '[.[] | select(.backend.ip == $b) | .forward.packets] | add // 0' <<<"$convs")" \
  "$(cell "$N1_CIDR" "$N2_CIDR")"

phase "trace and paths --cidr 10.96.0.0/12 show the Service's conversations"
start_podpath "$TMP/trace-cidr.ndjson" trace --lab $L --output json --interval 0.5 --cidr 10.96.0.0/12
TRACE=$LAST_PID
start_podpath "$TMP/paths.json" paths --lab $L --output json --duration 3 --cidr 10.96.0.0/12
P=$LAST_PID
echo again | "$LAB" exec --name $L "$CLIENT" -- socat -t 1 - "TCP:$VIP:80,connect-timeout=3" >/dev/null || true
# A pod-to-pod exchange outside the service CIDR, which the filter must leave out.
"$LAB" exec --name $L "$CLIENT" -- ping -c 1 -W 2 "$B2_IP" >/dev/null || true
wait "$P" || true
sleep 1.2   # two refreshes at --interval 0.5
stop_podpath $TRACE TERM
check_eq "trace --cidr exits 0 on SIGTERM" 0 "$STOP_RC"
last=$(tail -n 1 "$TMP/trace-cidr.ndjson")
# shellcheck disable=SC2016  # jq programs: their $v is their own
check "trace --cidr 10.96.0.0/12 shows the connection through the Service, with its backend" \
  jq -e --arg v "$VIP" '[.flows[] | select(.service.ip == $v and .backend.ip != null)] | length > 0' <<<"$last"
# shellcheck disable=SC2016
check_eq "trace --cidr 10.96.0.0/12 shows nothing but the Service's conversations" 0 \
  "$(jq --arg v "$VIP" '[.flows[] | select(.service.ip != $v)] | length' <<<"$last")"
# shellcheck disable=SC2016  # a jq program: its $v is its own
check "paths --cidr 10.96.0.0/12 lists a conversation through the Service" \
  jq -e --arg v "$VIP" '[(if type == "array" then .[] else .flows[] end) | select(.service.ip == $v)] | length > 0' \
  "$TMP/paths.json"

phase "scripts/lab traffic talks to the Service too"
"$LAB" traffic --name $L --duration 2 >"$TMP/traffic.out" 2>&1 || true
check "traffic: the Service's connections all answered" \
  grep -qE "service default/web $VIP:80 +service +tcp .* 4 +4 +ok" "$TMP/traffic.out"
check "traffic: every flow answered" grep -q "and 1 Service(s), all .* messages answered" "$TMP/traffic.out"

phase "break service-no-endpoints: kube-proxy's REJECT"
"$LAB" break --name $L service-no-endpoints web >/dev/null
check "node1 rejects the ClusterIP" grep -q -- "default/web:http has no endpoints" <(ip netns exec $L-node1 iptables-save -t filter)
if echo x | "$LAB" exec --name $L "$CLIENT" -- socat -t 1 - "TCP:$VIP:80,connect-timeout=3" 2>"$TMP/refused.err"; then
  fail "a connection to a Service without endpoints succeeded"
else
  check "the connection is refused" grep -q "Connection refused" "$TMP/refused.err"
fi
"$LAB" heal --name $L >/dev/null
got=$(echo back | "$LAB" exec --name $L "$CLIENT" -- socat -t 1 - "TCP:$VIP:80,connect-timeout=3")
check_eq "healed: the Service answers again" back "$got"

phase "break backend-node-down: node2's share times out, node1's backend answers"
"$LAB" break --name $L backend-node-down node2 >/dev/null
ok=0 lost=0
for ((i = 0; i < 8; i++)); do
  if echo x | "$LAB" exec --name $L "$CLIENT" -- socat -t 1 - "TCP:$VIP:80,connect-timeout=1" >/dev/null 2>&1; then
    ok=$((ok + 1))
  else
    lost=$((lost + 1))
  fi
done
check "some connections still answered (node1's backend)" test "$ok" -gt 0
check "some connections lost (node2's backend)" test "$lost" -gt 0
"$LAB" heal --name $L >/dev/null
check_eq "healed: node2's default route is back" "default via 10.0.0.1 dev eth0 proto dhcp metric 100" \
  "$(ip -n $L-node2 route show default | sed 's/ *$//')"

phase "service del removes the rules"
"$LAB" service --name $L del web >/dev/null
check "no KUBE-SEP chain left on node1" bash -c "! ip netns exec $L-node1 iptables-save -t nat | grep -q KUBE-SEP-"
check_eq "the inventory lists no Service" 0 "$(jq '.services | length' "$(inventory_of $L)")"

finish services_test
