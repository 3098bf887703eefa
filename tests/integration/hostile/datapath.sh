# Hostile cases of issue 15 about what the datapath is sent: IPv6 packets whose addresses are
# v4-mapped (::ffff:a.b.c.d), which once made flow entries userspace could not delete
# (item 5). An L3 interface (item 8) has its own test, l3_link_test.sh. Sourced by
# tests/integration/hostile_test.sh.
# shellcheck shell=bash

# Raw IPv6/UDP frames from a pod, one flow per source port: send_v4mapped POD SRC DST N
send_v4mapped() {
  "$LAB" exec --name "$L" "$1" -- python3 - "$2" "$3" "$4" <<'PY'
import socket, struct, sys
src = socket.inet_pton(socket.AF_INET6, "::ffff:" + sys.argv[1])
dst = socket.inet_pton(socket.AF_INET6, "::ffff:" + sys.argv[2])
mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for i in range(int(sys.argv[3])):
    udp = struct.pack("!HHHH", 20000 + i, 9, 8, 0)
    ip6 = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst
    s.send(b"\xff" * 6 + mac + b"\x86\xdd" + ip6 + udp)
PY
}

# Entries of podpath's IPv6 flows map whose key holds the v4-mapped address: v4mapped_entries IP
v4mapped_entries() {
  local hex
  hex=$(awk -F. '{ printf "\"0xff\",\"0xff\",\"0x%02x\",\"0x%02x\",\"0x%02x\",\"0x%02x\"", $1, $2, $3, $4 }' <<<"$1")
  bpftool -j map dump name pp_flows 2>/dev/null |
    jq -c '.[] | .key' 2>/dev/null | tr -d ' ' | grep -cF "$hex" || true
}

hostile_case v4mapped_flood
hostile_v4mapped_flood() {
  hostile_lab
  start_podpath "$TMP/v4m.ndjson" trace --lab "$L" -o json --idle-timeout 2 --interval 0.5 --duration 600
  local pid=$LAST_PID n=0 _
  send_v4mapped "$A_NAME" "$A_IP" "$C_IP" 50
  for _ in $(seq 50); do
    n=$(v4mapped_entries "$A_IP")
    [[ $n -ge 50 ]] && break
    sleep 0.1
  done
  check "50 v4-mapped IPv6 flows entered the flows map ($n entries)" test "$n" -ge 50
  # Idle after 2 s; expiry runs at each refresh. Before the fix their deletes missed and
  # they stayed for good.
  for _ in $(seq 150); do
    n=$(v4mapped_entries "$A_IP")
    [[ $n -eq 0 ]] && break
    sleep 0.1
  done
  check_eq "expiry freed every v4-mapped entry" 0 "$n"
  stop_podpath "$pid" TERM
  check_eq "trace exits 0" 0 "$STOP_RC"
}
