# shellcheck shell=bash
# scripts/lib/lab_build.sh — building a lab: the gateway (the cloud router), the nodes (uplink,
# the seed's routes, docker0, CNI configuration), pods (create_pod: sandbox namespace, CNI
# ADD, containers, record), and 'scripts/lab up' (lab_up), which builds the nodes' pods in
# parallel and removes what it built if it fails or is interrupted. Sourced by scripts/lab;
# uses every other lab_*.sh file.

# Workloads pods are named after (namespace/app), assigned round-robin over the lab's pods.
readonly -a APPS=(default/web default/api default/db default/cache
                  shop/frontend shop/cart shop/checkout monitoring/exporter)

ipn() { local ns=$1; shift; ip -n "$ns" "$@"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

build_gateway() {
  local gw
  gw=$(gw_ns)
  ip netns add "$gw"
  ipn "$gw" link set lo up
  # A cloud router does not send ICMP redirects, although it forwards back out of the
  # interface a packet came in on (node -> gateway -> other node on one segment).
  nsx "$gw" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
    net.ipv4.conf.default.send_redirects=0 >/dev/null
  ipn "$gw" link add "$GW_BRIDGE" type bridge
  ipn "$gw" addr add "$GW_IP/24" dev "$GW_BRIDGE"
  ipn "$gw" link set "$GW_BRIDGE" up
}

# build_node I: node namespace, its uplink (a veth created from the gateway namespace
# straight into the node's), the DHCP-style routes of the seed, docker0, the gateway's
# route to the node's pod CIDR, the node's CNI configuration and its record.
build_node() {
  local i=$1 gw ns ip
  gw=$(gw_ns) ns=$(node_ns "$i") ip=$(node_ip "$i")
  ip netns add "$ns"
  ipn "$gw" link add "veth-node$i" type veth peer name "$NODE_UPLINK" netns "$ns"
  ipn "$gw" link set "veth-node$i" master "$GW_BRIDGE" up
  ipn "$ns" link set lo up
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
  ipn "$ns" addr add "$ip/24" dev "$NODE_UPLINK"
  ipn "$ns" link set "$NODE_UPLINK" up
  ipn "$ns" route add "$GW_IP/32" dev "$NODE_UPLINK" proto dhcp scope link metric 100
  ipn "$ns" route add default via "$GW_IP" dev "$NODE_UPLINK" proto dhcp metric 100
  ipn "$ns" link add "$NODE_DOCKER" type bridge
  ipn "$ns" addr add "$DOCKER_CIDR_IP" dev "$NODE_DOCKER"
  ipn "$ns" link set "$NODE_DOCKER" up
  ipn "$gw" route add "$(node_cidr "$i")" via "$ip" dev "$GW_BRIDGE"
  write_cni_conf "$i"
  mkdir -p "$LAB_DIR/cni/node$i"
  inventory_record_node "$i"
}

# create_pod NODE_INDEX SEED APP(ns/app) NAME COMMAND CONTAINER_NAME...: one pod on a node:
# its network namespace (the sandbox), CNI ADD (loopback, bridge) and its containers.
# SEED makes the generated names deterministic (pod index on the node); NAME "" means a
# Deployment-style name after APP. Prints the pod's record line for inventory_record_pods
# (NAMESPACE NAME UID NODE IP NETNS VETH SANDBOX_ID, then five values per container).
create_pod() {
  local i=$1 seed=$2 app_full=$3 name=$4 cmd=$5
  shift 5
  local -a cnames=("$@")
  local kns=${app_full%%/*} app=${app_full#*/}
  local node=node$i tmpl suffix podns uid sandbox attempt=0 ip veth cgpod k
  k8s_rand tmpl "$LAB/$app_full/pod-template-hash" 10
  while :; do
    k8s_rand suffix "$LAB/$node/$seed/$attempt" 5
    podns=$LAB-pod-$suffix
    if ip netns add "$podns" 2>/dev/null; then break; fi
    [[ -e /run/netns/$podns ]] || die "cannot create network namespace $podns"
    (( ++attempt < 50 )) || die "cannot find a free pod name for $app_full on $node"
  done
  name=${name:-$app-$tmpl-$suffix}
  # The pod's UID (as pod_uid makes it), its sandbox (CNI container) id and its container
  # ids: SHA-256 of names below the pod's namespace, from one sha256sum.
  local -a sums
  mapfile -t sums < <(sha256_each "$LAB/$podns/uid" "$LAB/$podns/sandbox" "${cnames[@]/#/$LAB/$podns/}")
  (( ${#sums[@]} == ${#cnames[@]} + 2 )) || die "sha256sum failed for pod $kns/$name"
  uuid_hex uid "${sums[0]}"
  sandbox=${sums[1]}
  cni_add "$i" "$podns" "$sandbox" "pod $kns/$name on $node"
  ip=$CNI_IP veth=$CNI_VETH
  [[ -n $ip && -n $veth ]] || die "unexpected CNI result for pod $kns/$name: $CNI_RESULT"

  # Containers: all spawned at once, then each waited for.
  cgpod=$(pod_cgroup "$uid")
  local -a cids=("${sums[@]:2}") cgdirs=() spawned=() cgids=() ctrs=()
  for k in "${!cnames[@]}"; do cgdirs[k]=$cgpod/${cids[k]}; done
  mkdir -p "${cgdirs[@]}" "$LAB_DIR/logs/$podns"
  for k in "${!cnames[@]}"; do
    spawn_container "${cgdirs[k]}" "/run/netns/$podns" "$name" "$cmd" \
      "$LAB_DIR/logs/$podns/${cnames[k]}.log"
    spawned[k]=$SPAWNED_PID
  done
  mapfile -t cgids < <(stat -c %i "${cgdirs[@]}")
  for k in "${!cnames[@]}"; do
    container_main_pid "${cgdirs[k]}" "${spawned[k]}" ||
      die "container ${cnames[k]} of pod $kns/$name did not start: $(container_log_tail "$podns" "${cnames[k]}")"
    ctrs+=("${cnames[k]}" "${cids[k]}" "${cgdirs[k]}" "${cgids[k]}" "$MAIN_PID")
  done
  tsv_line "$kns" "$name" "$uid" "$node" "$ip" "$podns" "$veth" "$sandbox" "${ctrs[@]}"
}

# build_node_pods I M K CMD: all pods of node I and their records (runs as a background
# worker; stops when the 'up' process that started it is gone, e.g. killed).
build_node_pods() {
  local i=$1 m=$2 k=$3 cmd=$4 j g app ip first="" last=""
  local -a cn records=()
  for (( j = 0; j < m; j++ )); do
    kill -0 "$LAB_MAIN_PID" 2>/dev/null || exit 1
    g=$(( (i - 1) * m + j ))
    app=${APPS[g % ${#APPS[@]}]}
    mapfile -t cn < <(container_names "$k" "${app#*/}")
    records[j]=$(create_pod "$i" "$j" "$app" "" "$cmd" "${cn[@]}")
    IFS=$'\t' read -r _ _ _ _ ip _ <<<"${records[j]}"
    if [[ -z $first ]]; then first=$ip; fi
    last=$ip
  done
  printf '%s\n' "${records[@]}" | inventory_record_pods "$LAB_DIR/pods/node$i.json" "$cmd"
  say "node$i: $m pod(s) on cbr0 $(node_cidr "$i"): $first .. $last, $(( m * k )) container(s)"
}

# Every container must still be running once all pods are built (a command that exits at
# once, e.g. a typo in --command, fails 'up' instead of leaving a broken lab).
check_containers_running() {
  local pod netns cname pid cid
  while IFS=$'\t' read -r pod netns cname pid cid; do
    if ! container_alive "$pid" "$cid"; then
      die "container $cname of pod $pod exited right after it started (--command?): $(container_log_tail "$netns" "$cname")"
    fi
  done < <(jq -r '"\(.namespace)/\(.name)" as $p | .netns as $n
                  | .containers[] | [ $p, $n, .name, (.pid | tostring), .id ] | @tsv' "$LAB_DIR"/pods/*.json)
}

# ---------------------------------------------------------------------------- up
UP_DONE=0
UP_WORKERS=()

# EXIT trap of lab_up: unless the lab was completed, stop the workers and remove what was built.
up_on_exit() {
  local rc=$?
  (( UP_DONE )) && return 0
  trap '' INT TERM HUP
  if (( ${#UP_WORKERS[@]} )); then
    kill_trees "${UP_WORKERS[@]}"          # workers and what they are running (CNI, pods)
    wait "${UP_WORKERS[@]}" 2>/dev/null || true
  fi
  if (( rc == 130 || rc == 143 )); then
    printf 'lab: up interrupted; removing what was built of lab %s\n' "$LAB" >&2
  else
    printf 'lab: up failed; removing what was built of lab %s\n' "$LAB" >&2
  fi
  # shellcheck disable=SC2034  # read by cni_del
  TEARDOWN_QUIET=1
  teardown
  lab_unlock
  (( rc != 0 )) || rc=1
  exit "$rc"
}

# lab_up NODES PODS_PER_NODE CONTAINERS COMMAND: 'scripts/lab up' of the selected lab.
lab_up() {
  local nodes=$1 pods=$2 containers=$3 cmd=$4 t0 remains i
  t0=$(now)
  lab_lock
  if lab_is_up; then
    die "lab '$LAB' is already up ($(jq -r '"\(.nodes|length) nodes, \(.pods|length) pods"' "$(inventory_file)" 2>/dev/null || echo '?')); remove it first with 'scripts/lab down --name $LAB'"
  fi
  if remains=$(lab_remains); then
    say "found remains of an unfinished lab '$LAB' ($remains); removing them first"
    TEARDOWN_QUIET=1 teardown
  fi

  trap up_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  LAB_MAIN_PID=$$
  say "building lab '$LAB': $nodes node(s) x $pods pod(s) x $containers container(s); cgroup v2 at $CG2"
  mkdir -p "$LAB_DIR"/{net.d,cni,nodes,pods,sandboxes,logs}
  mkdir -p "$LAB_CG/kubepods/besteffort" "$LAB_CG/shim"
  inventory_record_lab "$nodes" "$pods" "$containers" "$cmd"
  write_loopback_conf
  printf '%s\n' "$CONTAINER_INIT" >"$LAB_DIR/container-init"

  build_gateway
  say "gateway $(gw_ns): $GW_BRIDGE $GW_IP/24, ip_forward=1"
  for (( i = 1; i <= nodes; i++ )); do
    build_node "$i"
    say "node$i $(node_ns "$i"): $NODE_UPLINK $(node_ip "$i")/24, pod CIDR $(node_cidr "$i") (gateway route via $(node_ip "$i"))"
  done

  # Pods: workers in parallel, each building whole nodes (host-local IPAM state is per node,
  # so nodes are independent). Default: one worker per node; PODPATH_LAB_JOBS overrides.
  local jobs=${PODPATH_LAB_JOBS:-$nodes} w0
  [[ $jobs =~ ^[1-9][0-9]{0,1}$ ]] || jobs=$nodes
  for (( w0 = 1; w0 <= jobs && w0 <= nodes; w0++ )); do
    (
      for (( i = w0; i <= nodes; i += jobs )); do
        build_node_pods "$i" "$pods" "$containers" "$cmd"
      done
    ) &
    UP_WORKERS+=("$!")
  done
  local w failed=0
  for w in "${UP_WORKERS[@]}"; do
    wait "$w" || failed=1
  done
  UP_WORKERS=()
  (( ! failed )) || die "building the pods failed (see above)"
  check_containers_running

  inventory_write
  api_start
  UP_DONE=1
  trap - EXIT INT TERM HUP
  say "lab '$LAB' is up in $(elapsed "$t0") s: $nodes node(s), $(( nodes * pods )) pod(s), $(( nodes * pods * containers )) container(s)"
  say "inventory: $(inventory_file)   (scripts/lab status --name $LAB)"
  say "kubectl: kubectl --kubeconfig $(kubeconfig_file) get po -o wide"
}
