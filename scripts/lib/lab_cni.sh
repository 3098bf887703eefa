# shellcheck shell=bash
# scripts/lib/lab_cni.sh — pod networking through Debian's CNI plugins, run inside the node's
# network namespace the way the kubelet runs them: the node's configuration (what kubenet
# generates: bridge cbr0 + host-local IPAM on the node's pod CIDR), ADD with a sandbox
# record written first, and DEL from those records (also of a half-built lab). Sourced by
# scripts/lab; uses lab_common.sh and lab_state.sh.

readonly CNI_NETWORK=kubenet
readonly CNI_VERSION=1.0.0
CNI_EXTRA_ARGS=""   # CNI_ARGS for the next ADDs, e.g. "IgnoreUnknown=1;IP=10.10.129.7" (add-pod --ip)

# cni_exec NODE_NS PLUGIN COMMAND CONTAINER_ID NETNS_PATH IFNAME CONF: run a CNI plugin
# inside the node's network namespace (as the kubelet would on that node). Prints the
# plugin's stdout (the result, or the error object).
cni_exec() {
  CNI_COMMAND=$3 CNI_CONTAINERID=$4 CNI_NETNS=$5 CNI_IFNAME=$6 CNI_PATH=$CNI_BIN CNI_ARGS=$CNI_EXTRA_ARGS \
    ip netns exec "$1" "$CNI_BIN/$2" <"$7" 2>&1
}

# cni_parse_result RESULT: set CNI_IP (pod address) and CNI_VETH (host-side veth, the
# interface without "sandbox" that is not the bridge) from a bridge plugin ADD result.
cni_parse_result() {
  local re_ip='"ips": *\[[^]]*"address": *"([0-9.]+)/[0-9]+"' re_veth='"name": *"(veth[0-9a-f]{8})"' parsed
  CNI_IP="" CNI_VETH=""
  if [[ $1 =~ $re_ip ]]; then CNI_IP=${BASH_REMATCH[1]}; fi
  if [[ $1 =~ $re_veth ]]; then CNI_VETH=${BASH_REMATCH[1]}; fi
  if [[ -z $CNI_IP || -z $CNI_VETH ]]; then      # unusual result layout: ask jq
    parsed=$(jq -r --arg br "$NODE_BRIDGE" '
        [ (.ips[0].address // "" | split("/")[0]),
          ([ .interfaces[]? | select((.sandbox // "") == "" and .name != $br) | .name ][0] // "") ]
        | @tsv' <<<"$1" 2>/dev/null) || parsed=""
    IFS=$'\t' read -r CNI_IP CNI_VETH <<<"$parsed" || true
  fi
}

# cni_error OUTPUT: the message of a CNI error object, else the raw output (one line).
cni_error() {
  local msg
  msg=$(jq -r 'if type == "object" and .msg then .msg + (if .details then ": " + .details else "" end)
               else empty end' <<<"$1" 2>/dev/null) || msg=""
  if [[ -z $msg ]]; then msg=$(tr '\n' ' ' <<<"$1" | cut -c1-300); fi
  printf '%s\n' "${msg:-(no output)}"
}

# Write the node's CNI configuration (what kubenet generates for the bridge plugin).
write_cni_conf() {
  local i=$1
  jq -n --arg ver "$CNI_VERSION" --arg net "$CNI_NETWORK" --arg br "$NODE_BRIDGE" \
    --arg data "$LAB_DIR/cni/node$i" --arg subnet "$(node_cidr "$i")" --arg gw "$(node_brip "$i")" '
    { cniVersion: $ver, name: $net, type: "bridge", bridge: $br,
      isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: "host-local", dataDir: $data,
              ranges: [[ { subnet: $subnet, gateway: $gw } ]],
              routes: [ { dst: "0.0.0.0/0" } ] } }' >"$LAB_DIR/net.d/node$i.conf"
}

write_loopback_conf() {
  jq -n --arg ver "$CNI_VERSION" '{ cniVersion: $ver, name: "cni-loopback", type: "loopback" }' \
    >"$LAB_DIR/net.d/loopback.conf"
}

# cni_add I NETNS SANDBOX_ID WHAT: the pod network of namespace NETNS on node I: first the
# sandbox record (what CNI DEL needs, so that a failure from here on is undone), then CNI
# ADD of loopback and bridge. WHAT names the pod in errors. Sets CNI_RESULT (the bridge
# plugin's result), CNI_IP and CNI_VETH.
# The sandbox record, <data dir>/sandboxes/NETNS.tsv, is one line "node_netns netns
# sandbox_id conf" (TSV; every value is [a-z0-9./-]), read back without jq while cleaning up.
cni_add() {
  local netns=$2 sandbox=$3 what=$4 node_ns=$LAB-node$1 conf=$LAB_DIR/net.d/node$1.conf
  tsv_line "$node_ns" "$netns" "$sandbox" "$conf" >"$LAB_DIR/sandboxes/$netns.tsv"
  if ! CNI_RESULT=$(cni_exec "$node_ns" loopback ADD "$sandbox" "/run/netns/$netns" lo "$LAB_DIR/net.d/loopback.conf"); then
    die "CNI ADD (loopback) failed for $what: $(cni_error "$CNI_RESULT")"
  fi
  if ! CNI_RESULT=$(cni_exec "$node_ns" bridge ADD "$sandbox" "/run/netns/$netns" eth0 "$conf"); then
    die "CNI ADD (bridge) failed for $what: $(cni_error "$CNI_RESULT")"
  fi
  cni_parse_result "$CNI_RESULT"
}

# cni_del NODE_NS NETNS SANDBOX_ID CONF: CNI DEL of the pod network (bridge + host-local:
# removes the veth pair and releases the IP). The loopback plugin's DEL is skipped: it only
# sets lo down in a namespace that is deleted right after.
cni_del() {
  local node_ns=$1 netns=$2 sandbox=$3 conf=$4 nspath="" out
  [[ -e /run/netns/$node_ns && -f $conf ]] || return 0
  if [[ -e /run/netns/$netns ]]; then nspath=/run/netns/$netns; fi
  if ! out=$(cni_exec "$node_ns" bridge DEL "$sandbox" "$nspath" eth0 "$conf") && (( ! TEARDOWN_QUIET )); then
    warn "CNI DEL (bridge) for $netns failed: $(cni_error "$out")"
  fi
}

# CNI DEL for every sandbox record of the lab (written before each ADD), one worker per node.
cni_del_all() {
  local node_ns netns sandbox conf n d_netns d_sandbox d_conf
  local -A by_node=()
  local -a workers=() recs
  [[ -d $LAB_DIR/sandboxes ]] || return 0
  recs=("$LAB_DIR"/sandboxes/*.tsv)
  [[ -f ${recs[0]} ]] || return 0
  while IFS=$'\t' read -r node_ns netns sandbox conf; do
    by_node[$node_ns]+="$netns $sandbox $conf"$'\n'
  done < <(cat "${recs[@]}" 2>/dev/null || true)
  for n in "${!by_node[@]}"; do
    (
      while read -r d_netns d_sandbox d_conf; do
        if [[ -n $d_netns ]]; then cni_del "$n" "$d_netns" "$d_sandbox" "$d_conf"; fi
      done <<<"${by_node[$n]}"
    ) &
    workers+=("$!")
  done
  wait "${workers[@]}" || true
}

# cni_del_recorded NETNS: CNI DEL for the sandbox recorded for NETNS, then drop the record.
cni_del_recorded() {
  local rec=$LAB_DIR/sandboxes/$1.tsv node_ns netns sandbox conf
  [[ -f $rec ]] || return 0
  IFS=$'\t' read -r node_ns netns sandbox conf <"$rec" || true
  cni_del "$node_ns" "$netns" "$sandbox" "$conf"
  rm -f "$rec"
}
