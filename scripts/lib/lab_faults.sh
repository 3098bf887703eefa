# shellcheck shell=bash
# scripts/lib/lab_faults.sh — fault injection for the lab: 'scripts/lab break KIND ...' and
# 'scripts/lab heal' (lab_break, lab_heal). Sourced by scripts/lab; uses lab_common.sh
# (say, die, usage_die) and lab_state.sh (lab_lock, lab_require_up, inventory_file, gw_ns).
#
# Every fault is made inside the lab's namespaces (gateway, node or pod), never in the root
# namespace. What 'break' changed is appended to <data dir>/faults, one line per fault:
#   KIND <tab> TARGET <tab> DESCRIPTION <tab> UNDO
# where UNDO is the command (words of [A-Za-z0-9./:=_-]) that restores the previous state.
# 'heal' runs the UNDO commands newest first and removes the file; 'down' removes the
# namespaces and the data dir, so every fault goes with the lab.

# shellcheck disable=SC2034  # checked by scripts/lab's cmd_break
readonly FAULT_KINDS="gateway-route firewall veth-down wrong-route arp port-closed mtu service-no-endpoints backend-node-down"
readonly FAULT_COMMENT=podpath-lab-fault
readonly FAULT_DEFAULT_MTU=1000

faults_file() { printf '%s/faults' "$LAB_DIR"; }

# fault_node ARG: set F_NODE (nodeN), F_NODE_NS, F_NODE_IP, F_NODE_CIDR from a node name or number.
fault_node() {
  local name=$1 out
  [[ $name =~ ^[0-9]+$ ]] && name=node$name
  out=$(jq -r --arg n "$name" '.nodes[] | select(.name == $n) | [.name, .netns, .underlay_ip, .pod_cidr] | @tsv' \
    "$(inventory_file)")
  [[ -n $out ]] || die "no node '$1' in lab '$LAB' (nodes: $(jq -r '[.nodes[].name] | join(", ")' "$(inventory_file)"))"
  IFS=$'\t' read -r F_NODE F_NODE_NS F_NODE_IP F_NODE_CIDR <<<"$out"
}

# fault_pod ARG: set F_POD (namespace/name), F_POD_NS, F_POD_IP, F_POD_VETH, F_POD_NODE.
fault_pod() {
  local out
  out=$(jq -r --arg q "$1" '
    [ .pods[] | select(if ($q | contains("/")) then (.namespace + "/" + .name) == $q else .name == $q end) ]
    | if length == 1 then .[0] | [(.namespace + "/" + .name), .netns, .ip, .veth, .node] | @tsv
      elif length > 1 then "AMBIGUOUS" else "" end' "$(inventory_file)")
  [[ $out != AMBIGUOUS ]] || die "pod name '$1' is ambiguous in lab '$LAB'; use namespace/name"
  [[ -n $out ]] || die "no pod '$1' in lab '$LAB' (see scripts/lab status --name $LAB)"
  IFS=$'\t' read -r F_POD F_POD_NS F_POD_IP F_POD_VETH F_POD_NODE <<<"$out"
}

# fault_record KIND TARGET DESCRIPTION UNDO...: refuse a fault already active, else record it.
fault_active() {
  [[ -f $(faults_file) ]] && awk -F'\t' -v k="$1" -v t="$2" '$1 == k && $2 == t { f = 1 } END { exit !f }' "$(faults_file)"
}
fault_record() {
  local kind=$1 target=$2 desc=$3
  shift 3
  printf '%s\t%s\t%s\t%s\n' "$kind" "$target" "$desc" "$*" >>"$(faults_file)"
  say "broken: $desc (undo with: scripts/lab heal --name $LAB)"
}

gw_route_of() {  # gw_route_of CIDR: "CIDR via IP dev DEV" as the gateway has it, or ""
  ip -n "$(gw_ns)" -4 route show exact "$1" 2>/dev/null | head -n 1
}

break_gateway_route() {
  (( $# == 1 )) || usage_die "gateway-route needs NODE"
  fault_node "$1"
  fault_active gateway-route "$F_NODE" && die "gateway-route $F_NODE is already broken"
  local have via
  have=$(gw_route_of "$F_NODE_CIDR")
  [[ -n $have ]] || die "the gateway has no route to $F_NODE_CIDR already"
  via=$(awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }' <<<"$have")
  [[ -n $via ]] || via=$F_NODE_IP
  ip -n "$(gw_ns)" route del "$F_NODE_CIDR"
  fault_record gateway-route "$F_NODE" "the gateway has no route to $F_NODE_CIDR ($F_NODE's pods)" \
    ip -n "$(gw_ns)" route replace "$F_NODE_CIDR" via "$via" dev "$GW_BRIDGE"
}

break_wrong_route() {
  (( $# >= 1 && $# <= 2 )) || usage_die "wrong-route needs NODE [VIA-NODE]"
  fault_node "$1"
  local node=$F_NODE cidr=$F_NODE_CIDR own_ip=$F_NODE_IP have via
  fault_active wrong-route "$node" && die "wrong-route $node is already broken"
  if (( $# == 2 )); then
    fault_node "$2"
  else
    local other
    other=$(jq -r --arg n "$node" '[.nodes[] | select(.name != $n) | .name][0] // ""' "$(inventory_file)")
    [[ -n $other ]] || die "wrong-route needs a second node (this lab has one)"
    fault_node "$other"
  fi
  [[ $F_NODE != "$node" ]] || die "wrong-route: VIA must be another node than $node"
  have=$(gw_route_of "$cidr")
  via=$(awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }' <<<"$have")
  [[ -n $via ]] || via=$own_ip
  ip -n "$(gw_ns)" route replace "$cidr" via "$F_NODE_IP" dev "$GW_BRIDGE"
  fault_record wrong-route "$node" "the gateway routes $cidr ($node's pods) via $F_NODE_IP ($F_NODE)" \
    ip -n "$(gw_ns)" route replace "$cidr" via "$via" dev "$GW_BRIDGE"
}

break_firewall() {
  (( $# >= 1 && $# <= 2 )) || usage_die "firewall needs NODE [POD]"
  fault_node "$1"
  local dst=$F_NODE_CIDR what="$F_NODE's pods ($F_NODE_CIDR)"
  if (( $# == 2 )); then
    fault_pod "$2"
    [[ $F_POD_NODE == "$F_NODE" ]] || die "pod $F_POD runs on $F_POD_NODE, not on $F_NODE"
    dst=$F_POD_IP/32 what="pod $F_POD ($F_POD_IP)"
  fi
  fault_active firewall "$F_NODE:$dst" && die "firewall $F_NODE $dst is already active"
  ip netns exec "$F_NODE_NS" iptables -w -I FORWARD -d "$dst" -m comment --comment "$FAULT_COMMENT" -j DROP
  fault_record firewall "$F_NODE:$dst" "iptables on $F_NODE drops what is forwarded to $what" \
    ip netns exec "$F_NODE_NS" iptables -w -D FORWARD -d "$dst" -m comment --comment "$FAULT_COMMENT" -j DROP
}

break_veth_down() {
  (( $# == 1 )) || usage_die "veth-down needs POD"
  fault_pod "$1"
  fault_active veth-down "$F_POD" && die "veth-down $F_POD is already active"
  fault_node "$F_POD_NODE"
  ip -n "$F_NODE_NS" link set "$F_POD_VETH" down
  fault_record veth-down "$F_POD" "$F_POD's veth $F_POD_VETH is down on $F_NODE" \
    ip -n "$F_NODE_NS" link set "$F_POD_VETH" up
}

break_arp() {
  (( $# == 1 )) || usage_die "arp needs POD"
  fault_pod "$1"
  fault_active arp "$F_POD" && die "arp $F_POD is already broken"
  fault_node "$F_POD_NODE"
  local old
  old=$(ip netns exec "$F_POD_NS" sysctl -n net.ipv4.conf.eth0.arp_ignore)
  # Undone last: the node's failed entry for the pod goes, so that the next packet asks
  # again at once (a FAILED entry answers "host unreachable" until its timer runs out).
  printf '%s\t%s\t%s\t%s\n' arp "$F_POD" "$F_NODE forgets its failed ARP entry for $F_POD_IP" \
    "ip -n $F_NODE_NS neigh flush to $F_POD_IP dev $NODE_BRIDGE" >>"$(faults_file)"
  ip netns exec "$F_POD_NS" sysctl -qw net.ipv4.conf.eth0.arp_ignore=8
  # Forget the pod's MAC on the node, so that the next packet needs an ARP reply.
  ip -n "$F_NODE_NS" neigh flush to "$F_POD_IP" dev "$NODE_BRIDGE" 2>/dev/null || true
  fault_record arp "$F_POD" "$F_POD ($F_POD_IP) ignores ARP requests; $F_NODE forgot its MAC" \
    ip netns exec "$F_POD_NS" sysctl -qw "net.ipv4.conf.eth0.arp_ignore=$old"
}

break_port_closed() {
  (( $# >= 2 && $# <= 3 )) || usage_die "port-closed needs POD PORT [tcp|udp]"
  fault_pod "$1"
  local port=$2 protos=${3:-both} p
  if [[ ! $port =~ ^[0-9]{1,5}$ ]] || (( 10#$port < 1 || 10#$port > 65535 )); then
    usage_die "port-closed: PORT must be 1..65535 (got '$port')"
  fi
  port=$(( 10#$port ))
  case $protos in tcp|udp) ;; both) protos="tcp udp" ;; *) usage_die "port-closed: protocol must be tcp or udp (got '$protos')" ;; esac
  for p in $protos; do
    fault_active port-closed "$F_POD:$p/$port" && die "port-closed $F_POD $p/$port is already active"
  done
  for p in $protos; do
    local -a rule=(INPUT -p "$p" --dport "$port" -m comment --comment "$FAULT_COMMENT" -j REJECT)
    if [[ $p == tcp ]]; then rule+=(--reject-with tcp-reset); fi
    ip netns exec "$F_POD_NS" iptables -w -I "${rule[@]}"
    fault_record port-closed "$F_POD:$p/$port" "$F_POD rejects $p port $port as closed" \
      ip netns exec "$F_POD_NS" iptables -w -D "${rule[@]}"
  done
}

break_mtu() {
  (( $# >= 1 && $# <= 2 )) || usage_die "mtu needs NODE [MTU]"
  fault_node "$1"
  local mtu=${2:-$FAULT_DEFAULT_MTU} old
  if [[ ! $mtu =~ ^[0-9]{3,5}$ ]] || (( 10#$mtu < 576 || 10#$mtu >= 1500 )); then
    usage_die "mtu: MTU must be 576..1499 (got '$mtu')"
  fi
  fault_active mtu "$F_NODE" && die "mtu $F_NODE is already lowered"
  old=$(ip -n "$F_NODE_NS" -o link show dev "$NODE_UPLINK" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  ip -n "$F_NODE_NS" link set dev "$NODE_UPLINK" mtu "$(( 10#$mtu ))"
  fault_record mtu "$F_NODE" "$F_NODE's $NODE_UPLINK MTU is $(( 10#$mtu )) (the gateway sends up to ${old:-1500})" \
    ip -n "$F_NODE_NS" link set dev "$NODE_UPLINK" mtu "${old:-1500}"
}

# lab_break KIND ARGS...: 'scripts/lab break' on the selected lab.
lab_break() {
  local kind=$1
  shift
  lab_lock
  lab_require_up
  "break_${kind//-/_}" "$@"
}

# lab_heal: 'scripts/lab heal' on the selected lab: run the recorded UNDO commands, newest first.
lab_heal() {
  lab_lock
  lab_require_up
  local file n=0 failed=0 kind target desc undo i
  file=$(faults_file)
  if [[ ! -s $file ]]; then
    rm -f "$file"
    say "lab '$LAB' has no fault to heal"
    return 0
  fi
  local -a lines words
  mapfile -t lines <"$file"
  for (( i = ${#lines[@]} - 1; i >= 0; i-- )); do
    IFS=$'\t' read -r kind target desc undo <<<"${lines[i]}"
    read -r -a words <<<"$undo"
    if "${words[@]}"; then
      say "healed: $desc"
      n=$(( n + 1 ))
    else
      warn "could not undo '$kind $target' ($undo)"
      failed=$(( failed + 1 ))
    fi
  done
  rm -f "$file"
  # A Service whose record came back gets its rules back (lab_services.sh).
  if compgen -G "$(services_dir)/*.json" >/dev/null; then
    services_sync
    inventory_write
  fi
  (( ! failed )) || die "$failed fault(s) could not be undone (see above); 'scripts/lab down' removes the lab"
  say "lab '$LAB': healed ($n change(s) undone)"
}
