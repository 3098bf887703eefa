#!/usr/bin/env bash
# Integration test of the datapath on the lab: attached to node1's and node2's pod veths,
# cbr0 and eth0, 25 pings from a node1 pod to a node2 pod are counted exactly 25 times at
# each of the six points they cross, 25 replies likewise, and the CIDR matrix holds 25
# packets node1 pods -> node2 pods. Run for every attach mode x namespace-id mode, so the
# fallbacks for older kernels (classic TC, one BPF object per namespace) are exercised too.
#
#   tests/integration/datapath_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools bpftool
register_cleanup

L="dp"
lab_up "$L"
A_NAME=$(pod_field $L node1 0 name)
A_IP=$(pod_field $L node1 0 ip)
C_IP=$(pod_field $L node2 0 ip)
echo "ping $A_NAME ($A_IP) -> $C_IP"

for mode in "tcx kern-ctx" "clsact kern-ctx" "tcx fixed" "clsact fixed"; do
  read -r attach netns <<<"$mode"
  phase "attach $attach, namespace ids $netns"
  OUT=$TMP/dump-$attach-$netns.txt
  start_podpath "$OUT" debug dump --lab $L --attach "$attach" --netns-mode "$netns" --duration 3
  PID=$LAST_PID
  "$LAB" exec --name $L "$A_NAME" -- ping -q -c 25 -i 0.02 -W 1 "$C_IP" >/dev/null
  stop_podpath "$PID" CONT  # let --duration run out
  check_eq "dump exits 0" 0 "$STOP_RC"
  check_eq "attached to 8 interfaces (2 nodes x cbr0, eth0, 2 veths)" 8 "$(grep -c '^iface ' "$OUT")"
  # ICMP echo request: sport = echo id, dport = type 8 << 8 = 2048; reply: dport 0.
  req=$(grep -E "^flow .* ICMP $A_IP:[0-9]+ -> $C_IP:2048 " "$OUT" || true)
  rep=$(grep -E "^flow .* ICMP $C_IP:[0-9]+ -> $A_IP:0 " "$OUT" || true)
  check_eq "request seen at six points" 6 "$(grep -c . <<<"$req")"
  check_eq "request: 25 packets at every point" "packets=25" "$(grep -o 'packets=[0-9]*' <<<"$req" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  check_eq "reply seen at six points" 6 "$(grep -c . <<<"$rep")"
  check_eq "reply: 25 packets at every point" "packets=25" "$(grep -o 'packets=[0-9]*' <<<"$rep" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  check_eq "six distinct points (namespace, ifindex, direction)" 6 \
    "$(grep -o 'cookie=[0-9]* ifindex=[0-9]* dir=[a-z]*' <<<"$req" | sort -u | wc -l)"
  check_eq "two namespaces (node1, node2)" 2 "$(grep -o 'cookie=[0-9]*' <<<"$req" | sort -u | wc -l)"
  # CIDR ids: pod CIDRs come first in node order (node1 pods = 1, node2 pods = 2).
  check_eq "matrix node1 pods -> node2 pods" "matrix 1 -> 2 packets=25" "$(grep -o '^matrix 1 -> 2 packets=[0-9]*' "$OUT" || true)"
  check_eq "matrix node2 pods -> node1 pods" "matrix 2 -> 1 packets=25" "$(grep -o '^matrix 2 -> 1 packets=[0-9]*' "$OUT" || true)"
  check_eq "nothing lost" "counter flow_insert_full=0 counter events_lost_ringbuf_full=0" \
    "$(grep -E '^counter (events_lost_ringbuf_full|flow_insert_full)=' "$OUT" | tr '\n' ' ' | sed 's/ $//')"
  check "no podpath program left" no_podpath_programs_left pp_tc_
  check_eq "no podpath filter left on node1 eth0" 0 "$(podpath_filters $L-node1 eth0)"
done

finish
