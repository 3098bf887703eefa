#!/usr/bin/env bash
# Integration test of `podpath check` and `scripts/lab break/heal` on the lab: a healthy
# same-node and cross-node pair answer over ICMP, TCP and UDP with the full path; for every
# fault kind the check exits 1 naming the hop and the cause, and 0 again after `heal`; the
# drop tracker stays quiet while `scripts/lab traffic` runs on a healthy lab; passive mode
# reports a firewall drop; bad input is one line and exit 2; nothing is left behind.
#
#   tests/integration/check_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools bpftool socat iptables
register_cleanup

L="ckt"
TCP_PORT=7070 UDP_PORT=7071   # our listeners; scripts/lab traffic uses 8080/9000 for its own
LISTENERS=()

# LISTENERS: 'scripts/lab exec' processes and the socat each runs inside a pod (kill_trees).
cleanup_check() {
  local rc=$?
  if (( ${#LISTENERS[@]} )); then kill_trees "${LISTENERS[@]}"; fi
  "$LAB" heal --name "$L" >/dev/null 2>&1 || true
  cleanup_common
  exit "$rc"
}
trap cleanup_check EXIT

lab_up "$L"
A=$(pod_field $L node1 0 name)   # the source, on node1
B=$(pod_field $L node1 1 name)   # same node
C=$(pod_field $L node2 0 name)   # cross node
C_IP=$(pod_field $L node2 0 ip)
C_FULL=$(pod_field $L node2 0 namespace)/$C
C_VETH=$(pod_field $L node2 0 veth)
C_NS=$(pod_field $L node2 0 netns)
B_NS=$(pod_field $L node1 1 netns)
echo "pods: $A -> $B (same node), $C $C_IP (node2, veth $C_VETH)"

# check OUT ARGS...: podpath check --output json, exit code in RC.
check_json() {
  local out=$1
  shift
  RC=0
  "$PODPATH" check --lab "$L" --output json "$@" >"$out" 2>"$out.err" || RC=$?
}
jqf() { jq -r "$1" "$2"; }
has() { jq -e "$1" "$2" >/dev/null; }
# The expected hops (not the gateway, not copies off the path) all saw every probe.
full_path() {
  jq -e '[.request.hops[], .reply.hops[] | select(.state != "virtual" and .state != "unexpected")]
         | length > 0 and all(.state == "observed" and .seen == .total)' "$1" >/dev/null
}

phase "drop tracking stays quiet on a healthy lab under scripts/lab traffic"
QUIET=$TMP/quiet.json
start_podpath "$QUIET" check --lab $L --passive --duration 9 --output json
QPID=$LAST_PID
traffic_ok=0
if "$LAB" traffic --name $L --duration 5 >"$TMP/traffic.log" 2>&1; then traffic_ok=1; else cat "$TMP/traffic.log"; fi
QRC=0
wait "$QPID" || QRC=$?
check_eq "scripts/lab traffic answered everything" 1 "$traffic_ok"
check_eq "passive check on healthy traffic exits 0" 0 "$QRC"
check_eq "no drop records" 0 "$(jqf .drops "$QUIET")"
check_eq "no problems" 0 "$(jqf '.problems | length' "$QUIET")"
check "conversations were looked at" test "$(jqf .conversations "$QUIET")" -ge 6

phase "listeners in $C and $B (socat, TCP $TCP_PORT and UDP $UDP_PORT, echoing)"
for pod in "$C" "$B"; do
  "$LAB" exec --name $L "$pod" -- timeout 600 socat TCP-LISTEN:$TCP_PORT,fork,reuseaddr PIPE &
  LISTENERS+=("$!")
  "$LAB" exec --name $L "$pod" -- timeout 600 socat UDP-RECVFROM:$UDP_PORT,fork,reuseaddr PIPE &
  LISTENERS+=("$!")
done
for ns in "$C_NS" "$B_NS"; do
  for _ in $(seq 100); do
    if ip netns exec "$ns" ss -Hltn "sport = :$TCP_PORT" | grep -q . &&
       ip netns exec "$ns" ss -Hlun "sport = :$UDP_PORT" | grep -q .; then break; fi
    sleep 0.05
  done
done

phase "healthy pairs: ICMP, TCP and UDP, cross node and same node"
for dst in "$C" "$B"; do
  for proto in icmp tcp udp; do
    args=(--proto "$proto")
    [[ $proto == tcp ]] && args+=(--port "$TCP_PORT")
    [[ $proto == udp ]] && args+=(--port "$UDP_PORT")
    OUT=$TMP/ok-$proto-$dst.json
    check_json "$OUT" "$A" "$dst" "${args[@]}"
    check_eq "$proto $A -> $dst: exit 0" 0 "$RC"
    check_eq "$proto $A -> $dst: reachable" "reachable true" "$(jqf '"\(.verdict.kind) \(.reachable)"' "$OUT")"
    check_eq "$proto $A -> $dst: 3 of 3 answered" 3 "$(jqf .outcome.answered "$OUT")"
    check "$proto $A -> $dst: every hop saw every probe, both ways" full_path "$OUT"
  done
done
OUT=$TMP/ok-icmp-$C.json
check_eq "cross-node request path" \
  "node1/pod_veth/ingress node1/bridge/ingress node1/uplink/egress gateway/gateway/forward node2/uplink/ingress node2/bridge/egress node2/pod_veth/egress" \
  "$(jqf '[.request.hops[] | select(.state != "unexpected") | "\(.node)/\(.role)/\(.direction)"] | join(" ")' "$OUT")"
check "per-hop latency measured on node2 eth0 ingress" \
  test "$(jqf '.request.hops[] | select(.node == "node2" and .role == "uplink") | .latency_ns' "$OUT")" != null
check_eq "large-packet probe passed" "1500 2" "$(jqf '"\(.mtu_probe.size) \(.mtu_probe.answered)"' "$OUT")"
check_eq "same-node path: two veths" "node1/pod_veth/ingress node1/pod_veth/egress" \
  "$(jqf '[.request.hops[] | select(.state != "unexpected") | "\(.node)/\(.role)/\(.direction)"] | join(" ")' "$TMP/ok-icmp-$B.json")"
"$PODPATH" check --lab $L "$A" "$C" >"$TMP/table.txt" 2>&1 || true
check "table output ends with the verdict" grep -q '^REACHABLE  reachable: 3/3 answered' "$TMP/table.txt"

# fault KIND-ARGS / PROTO-ARGS / expected kind / expected summary (regex): break, check, heal, check.
fault() {
  local name=$1 brk=$2 proto=$3 kind=$4 summary=$5 hop=${6:-}
  local -a bargs pargs=()
  read -r -a bargs <<<"$brk"
  if [[ -n $proto ]]; then read -r -a pargs <<<"$proto"; fi
  phase "fault $name: scripts/lab break $brk"
  "$LAB" break --name $L "${bargs[@]}" >"$TMP/break.log" 2>&1 || { cat "$TMP/break.log"; fail "break $brk"; return; }
  OUT=$TMP/fault-$name.json
  check_json "$OUT" "$A" "$C" --timeout 1.5 "${pargs[@]}"
  check_eq "$name: exit 1" 1 "$RC"
  check_eq "$name: verdict kind" "$kind" "$(jqf .verdict.kind "$OUT")"
  local got
  got=$(jqf .verdict.summary "$OUT")
  if [[ $got =~ $summary ]]; then pass "$name: cause ($got)"; else fail "$name: cause '$got' !~ /$summary/"; fi
  if [[ -n $hop ]]; then check_eq "$name: names the hop" "$hop" "$(jqf .verdict.hop "$OUT")"; fi
  "$LAB" heal --name $L >"$TMP/heal.log" 2>&1 || { cat "$TMP/heal.log"; fail "heal after $name"; }
  OUT=$TMP/healed-$name.json
  check_json "$OUT" "$A" "$C" "${pargs[@]}"
  check_eq "$name healed: exit 0" 0 "$RC"
  check "$name healed: the full path, both ways" full_path "$OUT"
}

fault gateway-route "gateway-route node2" "" no_route \
  '^stops after node1 eth0 egress: gateway has no route to 10\.10\.130\.0/24$' "node1 eth0 egress"
check "the kernel's drop reason is shown" has '.drops[] | select(.place == "gateway" and .reason == "IP_INNOROUTES")' "$TMP/fault-gateway-route.json"
fault firewall "firewall node2" "" firewall '^dropped at node2: NETFILTER_DROP in nf' "node2 eth0 ingress"
check "the drop is located at node2 eth0" has '.drops[] | select(.place == "node2" and .interface == "eth0" and .count == 3)' "$TMP/fault-firewall.json"
fault veth-down "veth-down $C" "" link_down "^pod veth down: $C_VETH of pod $C_FULL on node2 is down$" "node2 $C_VETH"
fault wrong-route "wrong-route node2" "" routing_loop \
  '^routing loop: the gateway routes 10\.10\.130\.0/24 via 10\.0\.0\.2 \(node1\), but node2 holds that pod CIDR' gateway
fault arp "arp $C" "" neighbour "^no ARP reply for ${C_IP//./\\.} on node2 cbr0$" "node2 cbr0 egress"
fault port-closed-tcp "port-closed $C $TCP_PORT tcp" "--proto tcp --port $TCP_PORT" port_closed \
  '^TCP RST from destination \(port closed\)$'
fault port-closed-udp "port-closed $C $UDP_PORT udp" "--proto udp --port $UDP_PORT" port_closed \
  "^ICMP port unreachable from destination \\(UDP port $UDP_PORT closed\\)$"
fault mtu "mtu node2" "" mtu '^MTU blackhole: 1500-byte packets with DF set are lost .*node2 eth0 has MTU 1000$'

phase "break/heal bookkeeping"
"$LAB" break --name $L gateway-route node2 >/dev/null
rc=0; "$LAB" break --name $L gateway-route node2 >/dev/null 2>&1 || rc=$?
check_eq "the same fault twice is refused" 1 "$rc"
check_eq "recorded once" 1 "$(wc -l <"/run/podpath-lab/$L/faults")"
"$LAB" heal --name $L >/dev/null
check "heal removes the record" test ! -e "/run/podpath-lab/$L/faults"
check "the gateway route is back" bash -c "ip -n $L-gw route show 10.10.130.0/24 | grep -q 'via 10.0.0.3'"
check "heal with nothing broken succeeds" "$LAB" heal --name $L
rc=0; "$LAB" break --name $L no-such-kind >/dev/null 2>&1 || rc=$?
check_eq "unknown fault kind: usage error" 2 "$rc"

phase "passive mode names a firewall drop in flowing traffic"
"$LAB" break --name $L firewall node2 >/dev/null
PASSIVE=$TMP/passive.json
start_podpath "$PASSIVE" check --lab $L --passive --duration 3 --output json
PPID_=$LAST_PID
"$LAB" exec --name $L "$A" -- ping -q -c 3 -i 0.3 -W 1 "$C_IP" >/dev/null 2>&1 || true
PRC=0
wait "$PPID_" || PRC=$?
"$LAB" heal --name $L >/dev/null
check_eq "passive check with a problem exits 1" 1 "$PRC"
check_eq "the problem is the firewall drop at node2" "firewall" \
  "$(jq -r --arg d "$C_IP" '.problems[] | select(.dst.ip == $d) | .verdict.kind' "$PASSIVE" | head -n1)"

phase "bad input: one line, exit 2"
bad() {
  local desc=$1
  shift
  local rc=0
  "$PODPATH" check --lab $L "$@" >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
  check_eq "$desc: exit 2" 2 "$rc"
  check_eq "$desc: one line" 1 "$(wc -l <"$TMP/bad.err")"
}
bad "missing DST" "$A"
bad "tcp without --port" "$A" "$C" --proto tcp
bad "unknown pod" "$A" no-such-pod
bad "unknown protocol" "$A" "$C" --proto sctp
check "--help is written for an operator" bash -c "'$PODPATH' check --help | grep -q 'where the packets stop and why'"

phase "nothing left behind"
kill_trees "${LISTENERS[@]}"
LISTENERS=()
check "no podpath BPF program left" no_podpath_programs_left 'pp_kfree_skb|pp_tc_'

finish
