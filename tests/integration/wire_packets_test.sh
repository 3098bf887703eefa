#!/usr/bin/env bash
# Integration test: bulk TCP counts wire packets, not skbs. A node1 pod sends 64 MiB to a
# node2 pod over one TCP connection; the kernel hands the veths, the bridge and the uplink
# TSO/GSO super-packets of up to ~45 segments each. podpath must count, at each of the six
# points the data crosses, the segments the sender's TCP stack reports having sent
# (`ss -ti` segs_out, read while the connection is still open), within 1 %, and the bytes
# those segments carried on the wire (payload + L2/IP/TCP headers), within 1 %.
#
#   tests/integration/wire_packets_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools socat ss
register_cleanup

L="wp"
lab_up "$L"
A_NAME=$(pod_field $L node1 0 name)
A_IP=$(pod_field $L node1 0 ip)
C_NAME=$(pod_field $L node2 0 name)
C_IP=$(pod_field $L node2 0 ip)
PORT=5001
BYTES=$((64 * 1024 * 1024))
echo "bulk TCP $A_NAME ($A_IP) -> $C_NAME ($C_IP):$PORT, $BYTES bytes"

phase "receiver in $C_NAME, podpath attached (tcx or classic TC, whichever the kernel has)"
"$LAB" exec --name $L "$C_NAME" -- socat -u -T 60 "TCP-LISTEN:$PORT,reuseaddr" OPEN:/dev/null,wronly &
PODPATH_PIDS+=("$!")
listening() { "$LAB" exec --name $L "$C_NAME" -- ss -ltnH "sport = :$PORT" | grep -q .; }
for _ in $(seq 100); do listening && break; sleep 0.05; done
check "receiver listens" listening
OUT=$TMP/dump.txt
start_podpath "$OUT" debug dump --lab $L --duration 600
PID=$LAST_PID

phase "send, then read the sender's segment count once everything is acknowledged"
# The connection stays open until segs_out is read: ss shows no counters for a closed one.
# shellcheck disable=SC2016  # expanded by the pod's bash, from its own arguments
SENDER='
exec 3<>"/dev/tcp/$1/$2"
head -c "$3" /dev/zero >&3
for _ in $(seq 600); do
  info=$(ss -tinH state established "dport = :$2")
  acked=$(grep -ow "bytes_acked:[0-9]*" <<<"$info" | cut -d: -f2)
  if [[ ${acked:-0} -ge $3 ]]; then
    echo "$(grep -ow "segs_out:[0-9]*" <<<"$info" | cut -d: -f2) $(grep -ow "bytes_sent:[0-9]*" <<<"$info" | cut -d: -f2)"
    exit 0
  fi
  sleep 0.05
done
echo "not acknowledged after 30 s" >&2
exit 1'
read -r SEGS SENT < <("$LAB" exec --name $L "$A_NAME" -- bash -c "$SENDER" _ "$C_IP" "$PORT" "$BYTES")
echo "sender: segs_out=$SEGS bytes_sent=$SENT"
check "the sender reports its segments" test "${SEGS:-0}" -gt $((BYTES / 65536))
stop_podpath "$PID" TERM
check_eq "dump exits 0" 0 "$STOP_RC"

phase "podpath's packets and bytes at each point against the sender's"
flows=$(grep -E "^flow .* TCP $A_IP:[0-9]+ -> $C_IP:$PORT " "$OUT" || true)
check_eq "the data direction is seen at six points" 6 "$(grep -c . <<<"$flows")"
# Every data segment repeats 66 bytes of headers on the wire: Ethernet 14, IPv4 20, TCP 32
# (timestamps option); the few control segments differ by a few bytes, far below 1 %.
wire=$((SENT + SEGS * 66))
within() {  # within VALUE EXPECTED: |VALUE - EXPECTED| <= 1 % of EXPECTED
  local d=$(($1 - $2))
  ((d < 0)) && d=$((-d))
  ((d * 100 <= $2))
}
while read -r line; do
  point=$(grep -o 'cookie=[0-9]* ifindex=[0-9]* dir=[a-z]*' <<<"$line")
  packets=$(grep -o 'packets=[0-9]*' <<<"$line" | cut -d= -f2)
  bytes=$(grep -o 'bytes=[0-9]*' <<<"$line" | cut -d= -f2)
  check "$point: $packets packets, sender sent $SEGS segments (within 1 %)" within "$packets" "$SEGS"
  check "$point: $bytes bytes, $wire on the wire (within 1 %)" within "$bytes" "$wire"
done <<<"$flows"
gso=$(grep -o '^counter gso_skbs=[0-9]*' "$OUT" | cut -d= -f2)
check "super-packets were seen (gso_skbs=${gso:-0})" test "${gso:-0}" -gt 0

finish
