#!/usr/bin/env bash
# Integration test of scripts/lab (the kubenet-style lab cluster, docs/lab.md).
#
#   tests/integration/lab_test.sh [REPO_ROOT]
#
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, or the lab's Debian packages are missing).
# Uses its own lab names (lt, lt2, lx) and always runs 'scripts/lab down' for them on exit.
# Takes about 30-60 s.
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
P=lt        # main lab
P2=lt2      # a second lab, to show that two labs coexist
PX=lx       # labs that must fail to come up

require_root_and_lab_tools route socat ping
require_cni_plugins
LAB_NAMES=("$P" "$P2" "$PX")
register_cleanup

norm() { tr -s ' \t' ' ' | sed 's/ $//'; }

# The root network namespace must never be touched by the lab.
root_net_state() {
  ip -o link show | awk -F': ' '{ print $2 }' | sort
  ip -o addr show | awk '{ print $2, $3, $4 }' | sort
  ip route show table all | sort
  sysctl net.ipv4.ip_forward net.ipv4.conf.all.send_redirects net.ipv4.conf.default.send_redirects
}

phase "0. clean slate"
"$LAB" down --name "$P" >/dev/null
"$LAB" down --name "$P2" >/dev/null
"$LAB" down --name "$PX" >/dev/null
check "no traces of labs $P, $P2, $PX" eval "nothing_left $P && nothing_left $P2 && nothing_left $PX"
root_net_state >"$TMP/root.before"

phase "1. lab up (2 nodes x 2 pods x 2 containers)"
t0=$EPOCHREALTIME
if "$LAB" up --name "$P" >"$TMP/up.out" 2>&1; then
  pass "scripts/lab up --name $P ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s)"
else
  cat "$TMP/up.out"
  fail "scripts/lab up --name $P"
  exit 1
fi
INV=$("$LAB" inventory --name "$P")
check "inventory path is /run/podpath-lab/$P/inventory.json" test "$INV" = "/run/podpath-lab/$P/inventory.json"
check "inventory is valid JSON, version 1, 2 nodes, 4 pods, 8 containers" \
  jq -e '.version == 1 and (.nodes | length) == 2 and (.pods | length) == 4
         and ([.pods[].containers[]] | length) == 8' "$INV" >/dev/null
check "inventory has every documented field" jq -e '
  (.lab and .created and .data_dir and .cgroup_root and .underlay.cidr and .gateway.netns
   and .gateway.ip and .gateway.interface and (.gateway.routes | length) == 2)
  and all(.nodes[]; .name and .netns and .underlay_ip and .pod_cidr and .bridge_ip
          and .interfaces.uplink == "eth0" and .interfaces.bridge == "cbr0" and .interfaces.docker == "docker0")
  and all(.pods[]; .namespace and .name and .uid and .node and .ip and .netns and .veth
          and (.sandbox_id | test("^[0-9a-f]{64}$")))
  and all(.pods[].containers[]; .name and (.id | test("^[0-9a-f]{64}$")) and .cgroup
          and (.cgroup_id | type) == "number" and (.pid | type) == "number" and .command)' "$INV" >/dev/null
check "pods are spread 2 per node, IPs from the node's pod CIDR" jq -e '
  [.pods[] | select(.node == "node1") | .ip | startswith("10.10.129.")] == [true, true]
  and [.pods[] | select(.node == "node2") | .ip | startswith("10.10.130.")] == [true, true]' "$INV" >/dev/null
check "the root network namespace is unchanged (links, addresses, routes, forwarding sysctls)" \
  diff <(root_net_state) "$TMP/root.before"

phase "2. node routing tables equal the seed's (route -n)"
expected_node() {
  cat <<EOF
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
0.0.0.0         10.0.0.1        0.0.0.0         UG    100    0        0 eth0
10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0
10.0.0.1        0.0.0.0         255.255.255.255 UH    100    0        0 eth0
10.10.$1.0     0.0.0.0         255.255.255.0   U     0      0        0 cbr0
172.17.0.0      0.0.0.0         255.255.255.0   U     0      0        0 docker0
EOF
}
for n in 1 2; do
  ip netns exec "$P-node$n" route -n >"$TMP/route$n"
  if diff <(expected_node $(( 128 + n )) | norm) <(norm <"$TMP/route$n") >"$TMP/route$n.diff"; then
    pass "route -n on node$n equals the seed's table"
  else
    cat "$TMP/route$n.diff"
    fail "route -n on node$n equals the seed's table"
  fi
done
for n in 1 2; do
  check "node$n: ip_forward=1, cbr0 holds 10.10.$(( 128 + n )).1/24, docker0 172.17.0.1/24" bash -c "
    [[ \$(ip netns exec $P-node$n sysctl -n net.ipv4.ip_forward) == 1 ]] &&
    ip -n $P-node$n -4 -o addr show dev cbr0 | grep -q ' 10.10.$(( 128 + n )).1/24 ' &&
    ip -n $P-node$n -4 -o addr show dev docker0 | grep -q ' 172.17.0.1/24 '"
  check "node$n: every pod's host veth is enslaved to cbr0" bash -c "
    for v in \$(jq -r '.pods[] | select(.node == \"node$n\") | .veth' $INV); do
      ip -n $P-node$n -o link show dev \"\$v\" | grep -q 'master cbr0' || exit 1
    done"
done

phase "3. gateway (the cloud router)"
ip netns exec "$P-gw" route -n >"$TMP/route-gw"
expected_gw() {
  cat <<'EOF'
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 br-underlay
10.10.129.0     10.0.0.2        255.255.255.0   UG    0      0        0 br-underlay
10.10.130.0     10.0.0.3        255.255.255.0   UG    0      0        0 br-underlay
EOF
}
if diff <(expected_gw | norm) <(norm <"$TMP/route-gw") >"$TMP/route-gw.diff"; then
  pass "gateway routes: one per node pod CIDR via the node's eth0 address"
else
  cat "$TMP/route-gw.diff"
  fail "gateway routes: one per node pod CIDR via the node's eth0 address"
fi
check "gateway: ip_forward=1, no ICMP redirects" bash -c "
  [[ \$(ip netns exec $P-gw sysctl -n net.ipv4.ip_forward) == 1 ]] &&
  [[ \$(ip netns exec $P-gw sysctl -n net.ipv4.conf.all.send_redirects) == 0 ]]"

phase "4. every pod reaches every other pod (ping from inside a container)"
mapfile -t PODS < <(jq -r '.pods[] | "\(.namespace)/\(.name) \(.ip) \(.node)"' "$INV")
for a in "${PODS[@]}"; do
  read -r an aip anode <<<"$a"
  for b in "${PODS[@]}"; do
    read -r bn bip bnode <<<"$b"
    [[ $an != "$bn" ]] || continue
    kind=cross-node
    if [[ $anode == "$bnode" ]]; then kind=same-node; fi
    check "$kind ping $an ($aip, $anode) -> $bn ($bip, $bnode)" \
      "$LAB" exec --name "$P" "$an" -- ping -n -q -c 1 -W 2 "$bip" >/dev/null
  done
done

phase "5. the pod's IP is shared by its containers; containers are separate processes"
POD=$(jq -r '.pods[0] | "\(.namespace)/\(.name)"' "$INV")
PIP=$(jq -r '.pods[0].ip' "$INV")
PNETNS=$(jq -r '.pods[0].netns' "$INV")
mapfile -t CN < <(jq -r '.pods[0].containers[].name' "$INV")
mapfile -t CPID < <(jq -r '.pods[0].containers[].pid' "$INV")
mapfile -t CCG < <(jq -r '.pods[0].containers[].cgroup' "$INV")
mapfile -t CCGID < <(jq -r '.pods[0].containers[].cgroup_id' "$INV")
ip0=$("$LAB" exec --name "$P" "$POD" -c "${CN[0]}" -- hostname -I | tr -d ' ')
ip1=$("$LAB" exec --name "$P" "$POD" -c "${CN[1]}" -- hostname -I | tr -d ' ')
check "container ${CN[0]} sees IP $ip0, container ${CN[1]} sees $ip1, both = pod IP $PIP" \
  test "$ip0" = "$PIP" -a "$ip1" = "$PIP"
addr0=$("$LAB" exec --name "$P" "$POD" -c "${CN[0]}" -- ip -4 -o addr show dev eth0 | awk '{ print $4 }')
addr1=$("$LAB" exec --name "$P" "$POD" -c "${CN[1]}" -- ip -4 -o addr show dev eth0 | awk '{ print $4 }')
check "ip -4 addr in both containers: eth0 $addr0 / $addr1" test "$addr0" = "$PIP/24" -a "$addr1" = "$PIP/24"
check "different processes: pids ${CPID[0]} and ${CPID[1]}, both alive" \
  test "${CPID[0]}" != "${CPID[1]}" -a -d "/proc/${CPID[0]}" -a -d "/proc/${CPID[1]}"
check "different cgroups: each pid is in its own container cgroup" bash -c "
  [[ '$cg2'\$(sed -n 's/^0:://p' /proc/${CPID[0]}/cgroup) == '${CCG[0]}' ]] &&
  [[ '$cg2'\$(sed -n 's/^0:://p' /proc/${CPID[1]}/cgroup) == '${CCG[1]}' ]] &&
  [[ '${CCG[0]}' != '${CCG[1]}' ]]"
check "cgroup layout kubepods/besteffort/pod<uid>/<64 hex id>, cgroup_id = inode" bash -c "
  [[ '${CCG[0]}' =~ /podpath-lab\.$P/kubepods/besteffort/pod[0-9a-f-]{36}/[0-9a-f]{64}$ ]] &&
  [[ \$(stat -c %i '${CCG[0]}') == ${CCGID[0]} && \$(stat -c %i '${CCG[1]}') == ${CCGID[1]} ]]"
check "different PID, mount and UTS namespaces; none is the host's" bash -c "
  for ns in pid mnt uts; do
    a=\$(readlink /proc/${CPID[0]}/ns/\$ns); b=\$(readlink /proc/${CPID[1]}/ns/\$ns); h=\$(readlink /proc/self/ns/\$ns)
    [[ \$a != \"\$b\" && \$a != \"\$h\" && \$b != \"\$h\" ]] || exit 1
  done"
check "same network namespace, the pod's ($PNETNS)" bash -c "
  n=net:[\$(stat -L -c %i /run/netns/$PNETNS)]
  [[ \$(readlink /proc/${CPID[0]}/ns/net) == \"\$n\" && \$(readlink /proc/${CPID[1]}/ns/net) == \"\$n\" ]]"
check "each container's PID 1 is its main process (NSpid ends in 1)" bash -c "
  grep -q '^NSpid:.*[[:space:]]1$' /proc/${CPID[0]}/status && grep -q '^NSpid:.*[[:space:]]1$' /proc/${CPID[1]}/status"
check "hostname inside = pod name" \
  test "$("$LAB" exec --name "$P" "$POD" -c "${CN[1]}" -- hostname)" = "${POD#*/}"
check "exec runs in the container's cgroup" \
  test "$cg2$("$LAB" exec --name "$P" "$POD" -c "${CN[1]}" -- sed -n 's/^0:://p' /proc/self/cgroup)" = "${CCG[1]}"
check "exec runs in the container's PID namespace" \
  test "$("$LAB" exec --name "$P" "$POD" -- readlink /proc/self/ns/pid)" = "$(readlink "/proc/${CPID[0]}/ns/pid")"
check "exec by bare pod name (no namespace/) works" "$LAB" exec --name "$P" "${POD#*/}" -- true
rc=0; "$LAB" exec --name "$P" "$POD" -- sh -c 'exit 7' || rc=$?
check "exec returns the command's exit code (7, got $rc)" test "$rc" = 7
rc=0; "$LAB" exec --name "$P" no-such-pod -- true 2>/dev/null || rc=$?
check "exec on an unknown pod exits 125 (got $rc)" test "$rc" = 125

phase "6. status"
if "$LAB" status --name "$P" >"$TMP/status" 2>&1; then pass "status exits 0"; else fail "status exits 0"; fi
cat "$TMP/status"
check "status has the kubectl-like pod header" grep -Eq '^NAMESPACE +NAME +READY +STATUS +AGE +IP +NODE' "$TMP/status"
check "status shows node1 with pod CIDR 10.10.129.0/24, node2 with 10.10.130.0/24" bash -c "
  grep -Eq '^node1 +Ready +10\.0\.0\.2 +10\.10\.129\.0/24' $TMP/status &&
  grep -Eq '^node2 +Ready +10\.0\.0\.3 +10\.10\.130\.0/24' $TMP/status"
for a in "${PODS[@]}"; do
  read -r an aip anode <<<"$a"
  check "status: ${an} 2/2 Running $aip $anode" \
    grep -Eq "^${an%%/*} +${an#*/} +2/2 +Running +[0-9]+[smh] +${aip//./\\.} +$anode " "$TMP/status"
done

phase "7. traffic (ping, TCP, UDP; same node and cross node)"
if "$LAB" traffic --name "$P" --duration 2 >"$TMP/traffic" 2>&1; then
  pass "traffic --duration 2 exits 0"
else
  fail "traffic --duration 2 exits 0"
fi
cat "$TMP/traffic"
check "traffic covered same-node and cross-node pairs with icmp, tcp and udp" bash -c "
  for k in same-node cross-node; do for p in icmp tcp udp; do
    grep -Eq \" \$k +\$p .* ok\$\" $TMP/traffic || exit 1
  done; done"
check "traffic left no files behind" bash -c "! ls -d /run/podpath-lab/$P/traffic.* 2>/dev/null"

phase "8. bad input: one line on stderr, non-zero exit, nothing left behind"
# expect_error EXPECTED_RC DESCRIPTION ARGS...
expect_error() {
  local want=$1 d=$2 rc=0 lines
  shift 2
  "$LAB" "$@" >"$TMP/err.out" 2>"$TMP/err.err" || rc=$?
  lines=$(wc -l <"$TMP/err.err")
  if [[ $rc == "$want" && $lines == 1 && ! -s $TMP/err.out ]]; then
    pass "$d -> exit $rc: $(cat "$TMP/err.err")"
  else
    fail "$d -> exit $rc (want $want), $lines stderr line(s) (want 1): $(cat "$TMP/err.out" "$TMP/err.err")"
  fi
}
expect_error 2 "unknown option" up --name "$PX" --frobnicate
expect_error 2 "unknown subcommand" frobnicate
expect_error 2 "--nodes 17 (max 16)" up --name "$PX" --nodes 17
expect_error 2 "--nodes 0" up --name "$PX" --nodes 0
expect_error 2 "--pods-per-node 65 (max 64)" up --name "$PX" --pods-per-node 65
expect_error 2 "--pods-per-node 0" up --name "$PX" --pods-per-node 0
expect_error 2 "--containers 9 (max 8)" up --name "$PX" --containers 9
expect_error 2 "--nodes abc" up --name "$PX" --nodes abc
expect_error 2 "bad lab name" up --name "Bad-Name"
expect_error 2 "option without value" up --name "$PX" --nodes
expect_error 1 "lab already up" up --name "$P"
expect_error 1 "status of a lab that is not up" status --name "$PX"
PODPATH_LAB_CNI_PATH=$TMP/empty expect_error 1 "missing CNI plugin" up --name "$PX"
check "nothing left of lab $PX" nothing_left "$PX"
check "lab $P still up and intact after the failed 'up'" bash -c "
  '$LAB' status --name $P | grep -c ' 2/2 *Running ' | grep -qx 4"
# A failure in the middle of 'up' (the IPAM plugin fails at the first pod): everything
# built so far is removed.
mkdir -p "$TMP/cni"
ln -s /usr/lib/cni/bridge /usr/lib/cni/loopback "$TMP/cni/"
printf '#!/bin/sh\necho %s\nexit 1\n' "'{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"test: IPAM failure\"}'" >"$TMP/cni/host-local"
chmod +x "$TMP/cni/host-local"
rc=0; PODPATH_LAB_CNI_PATH=$TMP/cni "$LAB" up --name "$PX" >"$TMP/mid.out" 2>&1 || rc=$?
check "up failing midway (IPAM error at the first pod) exits non-zero (got $rc)" test "$rc" != 0
check "up failing midway names the cause" grep -q 'test: IPAM failure' "$TMP/mid.out"
check "up failing midway leaves nothing behind" nothing_left "$PX"
# A failing add-pod (its containers exit at once) removes what it built, and only that.
mapfile -t NS_BEFORE < <(lab_netns "$P")
rc=0; "$LAB" add-pod --name "$P" --node 2 --command 'exit 3' >"$TMP/addfail.out" 2>&1 || rc=$?
check "add-pod whose containers exit at once fails (exit $rc)" test "$rc" = 1
check "the failed add-pod says why and that it cleans up" bash -c "
  grep -q 'demo' '$TMP/addfail.out' && grep -q 'add-pod failed; removing what it built' '$TMP/addfail.out'"
check "the failed add-pod left the lab's namespaces as they were" \
  diff <(printf '%s\n' "${NS_BEFORE[@]}") <(lab_netns "$P")
check "the failed add-pod left the inventory with its 4 pods, all running" bash -c "
  [[ \$(jq '.pods | length' $INV) == 4 && \$(cat /run/podpath-lab/$P/pods/*.json | jq -s length) == 4 ]] &&
  [[ \$('$LAB' status --name $P | grep -c ' 2/2 *Running ') == 4 ]]"

phase "9. a second lab coexists"
if "$LAB" up --name "$P2" --nodes 2 --pods-per-node 1 --containers 1 >"$TMP/up2.out" 2>&1; then
  pass "scripts/lab up --name $P2 while $P is up"
else
  cat "$TMP/up2.out"; fail "scripts/lab up --name $P2 while $P is up"
fi
INV2=$("$LAB" inventory --name "$P2" 2>/dev/null || true)
if [[ -n $INV2 ]]; then
  src=$(jq -r '.pods[0].name' "$INV2"); dst=$(jq -r '.pods[1].ip' "$INV2")
  check "cross-node ping inside lab $P2" "$LAB" exec --name "$P2" "$src" -- ping -n -q -c 1 -W 2 "$dst" >/dev/null
fi
check "lab $P2 down" "$LAB" down --name "$P2" >/dev/null
check "nothing left of lab $P2" nothing_left "$P2"
check "lab $P still fully up" bash -c "'$LAB' status --name $P | grep -c ' 2/2 *Running ' | grep -qx 4"

phase "10. down removes everything"
mapfile -t NETNS_INODES < <(for ns in $(ip netns list | awk '{ print $1 }' | grep "^$P-"); do stat -L -c %i "/run/netns/$ns"; done)
mapfile -t ALL_PIDS < <(jq -r '.pods[].containers[].pid' "$INV")
t0=$EPOCHREALTIME
check "scripts/lab down --name $P" "$LAB" down --name "$P"
echo "      (down took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s)"
check "no namespace, cgroup, data dir, lock file or container process of $P left" nothing_left "$P"
lab_traces "$P"
check "no container pid alive (zombies aside)" bash -c "
  for p in ${ALL_PIDS[*]}; do
    s=\$(awk '/^State:/ { print \$2 }' /proc/\$p/status 2>/dev/null || true)
    [[ -z \$s || \$s == Z ]] || exit 1
  done"
check "no process holds one of the lab's network namespaces" bash -c "
  for f in /proc/[0-9]*/ns/net; do
    l=\$(readlink \$f 2>/dev/null) || continue
    for i in ${NETNS_INODES[*]}; do [[ \$l != net:\[\$i\] ]] || exit 1; done
  done"
check "the root network namespace is unchanged" diff <(root_net_state) "$TMP/root.before"
check "down again succeeds (nothing to remove)" "$LAB" down --name "$P"

echo
finish lab_test
