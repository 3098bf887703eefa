#!/usr/bin/env bash
# Integration test of `podpath check POD SERVICE` (issue 16): a lab Service with a backend on
# each node. Healthy, the check exits 0, says reachable, and names both backends, each with
# its connections' path across the DNAT (the DNAT hop at the client's veth with the
# Service's KUBE-SEP rule, the reverse DNAT on the reply). Under each fault it exits 1 with
# the verdict, the cause and the hop: a backend's port closed (its RST), a firewall drop in
# front of a backend (NETFILTER_DROP), a backend's node down (its share times out after
# node1 eth0 while the other backend answers), and no endpoints (kube-proxy's REJECT: ICMP
# port unreachable from node1). Bad Service input is one line and exit 2.
#
#   tests/integration/service_check_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools socat iptables
require_cni_plugins

L="svck"
heal_lab() { "$LAB" heal --name "$L" >/dev/null 2>&1 || true; }
register_cleanup heal_lab

lab_up "$L" --nodes 2 --pods-per-node 2 --containers 1
CLIENT=$(pod_field $L node1 0 name)
B1=$(pod_field $L node1 1 name)
B1_IP=$(pod_field $L node1 1 ip)
B2=$(pod_field $L node2 1 name)
B2_IP=$(pod_field $L node2 1 ip)
B2_FULL=$(pod_field $L node2 1 namespace)/$B2
# 16 connections: the chance that kube-proxy's random choice leaves a backend out is 2^-15.
CONNS=16
"$LAB" service --name $L add web --port 80 --target-port 8080 --backends "$B1,$B2" >/dev/null
VIP=$(jq -r '.services[0].cluster_ip' "$(inventory_of $L)")
SEP2=$(jq -r --arg b "$B2_IP" '.services[0].backends[] | select(.ip == $b) | .sep_chain' "$(inventory_of $L)")
echo "service web $VIP:80 -> $B1 $B1_IP (node1), $B2 $B2_IP (node2, $SEP2)"

# svc_check OUT ARGS...: podpath check --output json, exit code in RC.
svc_check() {
  local out=$1
  shift
  RC=0
  "$PODPATH" check --lab "$L" --output json "$@" >"$out" 2>"$out.err" || RC=$?
}
jqf() { jq -r "$1" "$2"; }
# backend_field OUT IP FILTER: FILTER applied to the backend with that address.
backend_field() { jq -r --arg b "$2" ".backends[] | select(.backend.ip == \$b) | $3" "$1"; }

phase "healthy: every connection answers, both backends named with their paths"
OUT=$TMP/healthy.json
svc_check "$OUT" "$CLIENT" web --connections $CONNS
check_eq "exit 0" 0 "$RC"
check_eq "verdict" reachable "$(jqf .verdict.kind "$OUT")"
check_eq "every connection answered" "$CONNS" "$(jqf '[.backends[].outcome.answered] | add' "$OUT")"
check_eq "both backends picked" "$B1_IP $B2_IP" "$(jqf '[.backends[].backend.ip] | sort | join(" ")' "$OUT")"
check_eq "each backend named by its pod" "$(sort <<<"default/$B1
default/$B2" | tr '\n' ' ' | sed 's/ $//')" "$(jqf '[.backends[].backend.pod] | sort | join(" ")' "$OUT")"
check_eq "nothing untranslated" null "$(jqf .untranslated "$OUT")"
check_eq "node2's backend: the DNAT at the client's veth, with its rule" \
  "node1/pod_veth/ingress DNAT $VIP:80 → $B2_IP:8080 (service default/web, rule $SEP2)" \
  "$(backend_field "$OUT" "$B2_IP" '[.request.hops[] | select(.nat != null) | "\(.node)/\(.role)/\(.direction) \(.nat)"] | join(";")')"
check_eq "node2's backend: the request path, every hop seeing every connection" \
  "node1/pod_veth/ingress node1/bridge/ingress node1/uplink/egress node2/uplink/ingress node2/bridge/egress node2/pod_veth/egress" \
  "$(backend_field "$OUT" "$B2_IP" '[.request.hops[] | select(.state == "observed" and .seen == .total) | "\(.node)/\(.role)/\(.direction)"] | join(" ")')"
check "node2's backend: the reply is reverse-translated" grep -q "^reverse DNAT $B2_IP:8080 → $VIP:80" \
  <(backend_field "$OUT" "$B2_IP" '.reply.hops[] | select(.nat != null) | .nat')
check_eq "node1's backend: its path is complete" true "$(backend_field "$OUT" "$B1_IP" .request.complete)"
"$PODPATH" check --lab $L "$CLIENT" "$VIP:80" --connections 6 >"$TMP/healthy.txt" 2>&1 || true
check "table: ends with REACHABLE" grep -q "^REACHABLE  reachable: service default/web answered 6/6 tcp connections" "$TMP/healthy.txt"
check "table: the DNAT hop is shown" grep -q "↳ DNAT $VIP:80 → " "$TMP/healthy.txt"
cat "$TMP/healthy.txt"

phase "bad Service input: one line, exit 2, nothing attached"
bad() {
  local what=$1 want=$2
  shift 2
  RC=0
  "$PODPATH" check --lab $L "$@" >"$TMP/bad.out" 2>"$TMP/bad.err" || RC=$?
  check_eq "$what: exit 2" 2 "$RC"
  check "$what: says '$want'" grep -qF "$want" "$TMP/bad.err"
}
bad "ClusterIP without a port" "is the ClusterIP of service default/web: give its port" "$CLIENT" "$VIP"
bad "a port the Service lacks" "service default/web ($VIP) has no port 81 (its port: 80/TCP)" "$CLIENT" "$VIP:81"
bad "--port the Service lacks" "service default/web has no port 81" "$CLIENT" web --port 81
bad "an unknown name" "no pod, node or Service named 'nosuch'" "$CLIENT" nosuch
bad "the wrong protocol" "service default/web's port 80 is TCP, not udp" "$CLIENT" web --proto udp
bad "--count for a Service" "a Service takes --connections" "$CLIENT" web --count 3

# fault NAME "BREAK ARGS" KIND SUMMARY-REGEX [HOP]: break, check (exit 1, kind, summary, hop), heal.
fault() {
  local name=$1 brk=$2 kind=$3 summary=$4 hop=${5:-}
  local -a bargs
  read -r -a bargs <<<"$brk"
  phase "fault $name: scripts/lab break $brk"
  "$LAB" break --name $L "${bargs[@]}" >"$TMP/break.log" 2>&1 || { cat "$TMP/break.log"; fail "break $brk"; return; }
  OUT=$TMP/fault-$name.json
  svc_check "$OUT" "$CLIENT" web --connections $CONNS --timeout 1
  check_eq "$name: exit 1" 1 "$RC"
  check_eq "$name: verdict kind" "$kind" "$(jqf .verdict.kind "$OUT")"
  local got
  got=$(jqf .verdict.summary "$OUT")
  if [[ $got =~ $summary ]]; then pass "$name: cause ($got)"; else fail "$name: cause '$got' !~ /$summary/"; fi
  if [[ -n $hop ]]; then check_eq "$name: names the hop" "$hop" "$(jqf .verdict.hop "$OUT")"; fi
  if [[ $name == "${SHOW_FAULT:-backend-node-down}" ]]; then  # the table, for the log
    "$PODPATH" check --lab $L "$CLIENT" web --connections 10 --timeout 1 >"$TMP/fault.txt" 2>&1 || true
    cat "$TMP/fault.txt"
  fi
  "$LAB" heal --name $L >"$TMP/heal.log" 2>&1 || { cat "$TMP/heal.log"; fail "heal after $name"; }
}
# node1's backend keeps answering under every backend fault.
other_answers() {
  check_eq "$1: node1's backend answers all its connections" \
    "$(backend_field "$OUT" "$B1_IP" .outcome.sent)" "$(backend_field "$OUT" "$B1_IP" .outcome.answered)"
  check_eq "$1: node1's backend is reachable" reachable "$(backend_field "$OUT" "$B1_IP" .verdict.kind)"
}

# First: the backend faults below leave conntrack entries of unanswered SYNs (SYN_SENT, 2
# minutes) DNATed to node2's backend, and a later connection that happens to reuse one's
# source port keeps that backend (conntrack, not kube-proxy, decides it).
fault no-endpoints "service-no-endpoints web" no_endpoints \
  "^no endpoints: kube-proxy's REJECT at node1 answers service default/web with ICMP port unreachable \\([0-9]+/$CONNS connections refused(, [0-9]+ timed out)?\\)$"
check_eq "no-endpoints: no backend picked" 0 "$(jqf '.backends | length' "$OUT")"
# The kernel lets a burst of 6 ICMP errors through to one destination, then one a second.
check "no-endpoints: at least the burst of ICMP errors refused connections" \
  test "$(jqf .untranslated.outcome.refused "$OUT")" -ge 6
check_eq "no-endpoints: the hop before the REJECT" "node1 cbr0 ingress" "$(jqf .verdict.hop "$OUT")"
check "no-endpoints: the REJECT's drop at node1 is the evidence" test "$(jqf \
  '[.untranslated.drops[] | select(.place == "node1" and .reason == "NETFILTER_DROP")] | length' "$OUT")" -gt 0
check_eq "no-endpoints: the ICMP comes from node1" node1 "$(jqf .untranslated.reject_node "$OUT")"

B2_RE="pod default/${B2//./\\.} \\(node2\\)"
fault port-closed "port-closed $B2 8080 tcp" partial \
  "^1 of 2 backends fails: $B2_RE: TCP RST from destination \\(port closed\\)$"
other_answers port-closed
check_eq "port-closed: node2's backend refused every connection" \
  "$(backend_field "$OUT" "$B2_IP" .outcome.sent)" "$(backend_field "$OUT" "$B2_IP" .outcome.refused)"

fault firewall "firewall node2 $B2" partial "^1 of 2 backends fails: $B2_RE: dropped at node2: NETFILTER_DROP in nf" \
  "node2 eth0 ingress"
other_answers firewall
check "firewall: the kernel's drop at node2 is the evidence" test "$(backend_field "$OUT" "$B2_IP" \
  '[.drops[] | select(.place == "node2" and .reason == "NETFILTER_DROP")] | length')" -gt 0

fault backend-node-down "backend-node-down node2" partial "^1 of 2 backends fails: $B2_RE: node2 eth0 is down$" \
  "node2 eth0"
other_answers backend-node-down
check "backend-node-down: node2's share timed out after node1 eth0" grep -qE \
  "^pod $B2_FULL \\(node2\\): 0/[0-9]+ connections answered: [0-9]+ timed out after node1 eth0 egress$" \
  <(jqf '.verdict.details[]' "$OUT")
check_eq "backend-node-down: node2's backend path stops after node1 eth0" "node1 eth0 egress" \
  "$(backend_field "$OUT" "$B2_IP" .request.last_seen)"

phase "healed: reachable again"
svc_check "$TMP/healed.json" "$CLIENT" web --connections 6
check_eq "healed: exit 0" 0 "$RC"

phase "nothing left behind"
check "no podpath BPF programs left" no_podpath_programs_left

finish service_check_test
