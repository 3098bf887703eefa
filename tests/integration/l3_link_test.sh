#!/usr/bin/env bash
# Integration test: an interface without Ethernet headers. node1 and node2 of a lab are
# joined by a tun link (a userspace tunnel like a VPN: each node's tun device pptun0 is
# relayed over UDP through the underlay by socat), the kind of L3 interface WireGuard or
# an IP-in-IP tunnel also is: packets at its TC hooks start at the IP header. podpath
# attached to it (--iface) must parse them from the IP header: 25 pings across it counted
# exactly at both ends, with the tunnel's addresses, in every attach/namespace mode.
#
#   tests/integration/l3_link_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools socat
register_cleanup

L="l3"
lab_up "$L" --nodes 2 --pods-per-node 1
INV=$(inventory_of $L)
N1_IP=$(jq -r '.nodes[] | select(.name == "node1") | .underlay_ip' "$INV")
N2_IP=$(jq -r '.nodes[] | select(.name == "node2") | .underlay_ip' "$INV")
T1=192.168.77.1 T2=192.168.77.2 PORT=7777

phase "a tun link pptun0 between node1 ($T1) and node2 ($T2), relayed over UDP $N1_IP <-> $N2_IP"
tun_opts="tun-type=tun,tun-name=pptun0,iff-up,iff-no-pi"
# Unconnected datagram sockets on both ends: each side opens its device at once, and a
# datagram that arrives before the other side is bound (the kernel's IPv6 solicitations
# on a new device) draws an ICMP error that an unconnected socket ignores. A connected
# UDP client would read it as ECONNREFUSED and exit, taking its tun device with it.
ip netns exec $L-node2 socat "UDP-DATAGRAM:$N1_IP:$PORT,bind=$N2_IP:$PORT" "TUN:$T2/30,$tun_opts" &
PODPATH_PIDS+=("$!")
ip netns exec $L-node1 socat "UDP-DATAGRAM:$N2_IP:$PORT,bind=$N1_IP:$PORT" "TUN:$T1/30,$tun_opts" &
PODPATH_PIDS+=("$!")
tun_up() { ip -n "$1" -o link show pptun0 2>/dev/null | grep -q 'link/none'; }
# socat makes the devices when it runs: give a loaded machine up to 30 s.
for _ in $(seq 300); do tun_up $L-node1 && tun_up $L-node2 && break; sleep 0.1; done
check "pptun0 exists in both nodes, without link-layer header (link/none)" bash -c "ip -n $L-node1 -o link show pptun0 | grep -q link/none && ip -n $L-node2 -o link show pptun0 | grep -q link/none"
# Prime the link (neighbour entries in the underlay) before counting.
tun_carries() {
  local _
  for _ in $(seq 10); do ip netns exec $L-node1 ping -q -c 1 -W 1 $T2 >/dev/null && return 0; done
  return 1
}
check "the tun link carries traffic" tun_carries

for mode in "tcx kern-ctx" "clsact kern-ctx" "tcx fixed" "clsact fixed"; do
  read -r attach netns <<<"$mode"
  phase "attach $attach, namespace ids $netns: 25 pings node1 -> node2 over pptun0"
  OUT=$TMP/dump-$attach-$netns.txt
  start_podpath "$OUT" debug dump --lab $L --iface pptun0 --attach "$attach" --netns-mode "$netns" --duration 600
  PID=$LAST_PID
  ip netns exec $L-node1 ping -q -c 25 -i 0.02 -W 1 $T2 >/dev/null
  stop_podpath "$PID" TERM
  check_eq "dump exits 0" 0 "$STOP_RC"
  check_eq "attached to pptun0 in both nodes" 2 "$(grep -c '^iface .* name=pptun0 ' "$OUT")"
  # ICMP echo request: sport = echo id, dport = type 8 << 8 = 2048; reply: dport 0.
  req=$(grep -E "^flow .* ICMP $T1:[0-9]+ -> $T2:2048 " "$OUT" || true)
  rep=$(grep -E "^flow .* ICMP $T2:[0-9]+ -> $T1:0 " "$OUT" || true)
  check_eq "request seen at both ends (node1 egress, node2 ingress)" "egress ingress" \
    "$(grep -o 'dir=[a-z]*' <<<"$req" | cut -d= -f2 | sort | tr '\n' ' ' | sed 's/ $//')"
  check_eq "request: 25 packets at each end" "packets=25" "$(grep -o 'packets=[0-9]*' <<<"$req" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  check_eq "reply: 25 packets at each end" "packets=25" "$(grep -o 'packets=[0-9]*' <<<"$rep" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  # 84 bytes per echo: the IP packet, no link-layer header.
  check_eq "request bytes: the IP packets" "bytes=2100" "$(grep -o 'bytes=[0-9]*' <<<"$req" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  # Misparsed tunnel packets would count as non-IP: 100 of them (25 requests and 25 replies at
  # each end). The counter also counts the underlay's ARP, which socat's relay may trigger.
  non_ip=$(sed -n -E 's/^counter non_ip=([0-9]+)$/\1/p' "$OUT")
  check "tunnel packets not taken for non-IP (non_ip=${non_ip:-?}, ARP aside)" test "${non_ip:-999}" -lt 25
done

finish
