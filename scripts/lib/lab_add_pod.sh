# shellcheck shell=bash
# scripts/lib/lab_add_pod.sh — 'scripts/lab add-pod' (lab_add_pod): one more pod in a running
# lab, built by create_pod like the pods of 'up', optionally with a broken container that
# does not share the pod's network namespace; the inventory is rewritten atomically. A
# failed add-pod removes what it built, and only that. Sourced by scripts/lab; uses
# lab_build.sh (create_pod) and the files it uses.

ADD_DONE=0
ADD_NEW_NETNS=()    # namespaces add-pod created (the pod's, the broken container's)

# EXIT trap of lab_add_pod: unless the pod was added, remove what was built: processes and
# cgroups of the new pod, CNI DEL, its namespaces and records. Everything is found from the
# namespaces it created (the pod's uid, cgroup and records derive from the pod namespace's
# name).
add_pod_on_exit() {
  local rc=$? ns uid
  (( ADD_DONE )) && return 0
  trap '' INT TERM HUP
  printf 'lab: add-pod failed; removing what it built\n' >&2
  for ns in "${ADD_NEW_NETNS[@]}"; do
    pod_uid uid "$ns"
    if [[ -d $(pod_cgroup "$uid") ]]; then
      cgroup_kill_tree "$(pod_cgroup "$uid")" || true
      cgroup_remove_tree "$(pod_cgroup "$uid")" || true
    fi
  done
  # shellcheck disable=SC2034  # read by cni_del
  TEARDOWN_QUIET=1
  for ns in "${ADD_NEW_NETNS[@]}"; do
    cni_del_recorded "$ns"
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$LAB_DIR/logs/$ns" "$LAB_DIR/pods/$ns.json"
  done
  (( rc != 0 )) || rc=1
  exit "$rc"
}

# add_broken_container KIND NODE_INDEX PODNS CGPOD HOSTNAME CMD: spawn the extra container
# of --broken-container in the pod's cgroup and append it to the pod's record.
add_broken_container() {
  local kind=$1 i=$2 podns=$3 cgpod=$4 hostname=$5 ccmd=$6
  local cname=debug-$kind cid netns_path xns="" xsandbox xip=""
  hash_hex cid "$LAB/$podns/$cname" 64
  case $kind in
    hostnet) netns_path=/run/netns/$LAB-node$i ;;
    otherns)
      # A namespace of its own with its own CNI ADD: another IP from the node's pod CIDR.
      # Named <pod namespace>-x, so that 'down' finds it with the lab's pod namespaces.
      xns=$podns-x
      ip netns add "$xns" || die "cannot create network namespace $xns"
      ADD_NEW_NETNS+=("$xns")
      hash_hex xsandbox "$LAB/$xns/sandbox" 64
      cni_add "$i" "$xns" "$xsandbox" "$xns"
      xip=$CNI_IP
      [[ -n $xip ]] || die "unexpected CNI result for $xns: $CNI_RESULT"
      netns_path=/run/netns/$xns ;;
  esac
  mkdir -p "$cgpod/$cid"
  spawn_container "$cgpod/$cid" "$netns_path" "$hostname" "$ccmd" "$LAB_DIR/logs/$podns/$cname.log"
  container_main_pid "$cgpod/$cid" "$SPAWNED_PID" ||
    die "container $cname did not start: $(container_log_tail "$podns" "$cname")"
  inventory_add_container "$LAB_DIR/pods/$podns.json" "$cname" "$cid" "$cgpod/$cid" "$(stat -c %i "$cgpod/$cid")" "$MAIN_PID" \
    "$ccmd" "${xns:-$LAB-node$i}" "$xip"
  if [[ $kind == hostnet ]]; then
    say "container $cname runs in the node's network namespace $LAB-node$i (host network), not the pod's"
  else
    say "container $cname runs in its own network namespace $xns with IP $xip, not the pod's"
  fi
}

# lab_add_pod NODE_INDEX NAMESPACE NAME CONTAINERS COMMAND BROKEN [IP]: 'scripts/lab add-pod' on
# the selected lab. NAME "" = a generated Deployment-style name (demo-...); BROKEN "" = none,
# hostnet or otherns; IP "" = host-local's choice.
lab_add_pod() {
  local node=$1 kns=$2 pname=$3 containers=$4 ccmd=$5 broken=$6 want_ip=${7:-}
  lab_lock
  lab_require_up
  [[ -f $LAB_DIR/nodes/node$node.json ]] || die "lab '$LAB' has no node$node (see scripts/lab status --name $LAB)"
  if [[ -n $pname ]] && jq -e --arg ns "$kns" --arg n "$pname" \
       'any(.pods[]; .namespace == $ns and .name == $n)' "$(inventory_file)" >/dev/null; then
    die "pod $kns/$pname already exists in lab '$LAB'"
  fi

  local netns_before ns
  netns_before=" $(lab_netns | tr '\n' ' ') "
  trap add_pod_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP

  if [[ -n $want_ip ]] && jq -e --arg ip "$want_ip" 'any(.pods[]; .ip == $ip)' "$(inventory_file)" >/dev/null; then
    die "IP $want_ip is taken by pod $(jq -r --arg ip "$want_ip" '.pods[] | select(.ip == $ip) | "\(.namespace)/\(.name)"' "$(inventory_file)")"
  fi
  # Deterministic like 'up': the seed counts the pods add-pod made in this lab, so that a
  # pod added after a del-pod never gets the deleted one's namespace, UID or container ids.
  local seed first out uid ip podns veth full count=0
  if [[ -s $LAB_DIR/add-pod.count ]]; then count=$(<"$LAB_DIR/add-pod.count"); fi
  printf '%s\n' "$(( count + 1 ))" >"$LAB_DIR/add-pod.count"
  seed=extra-$count
  # host-local takes a requested address from CNI_ARGS (IP=...).
  # shellcheck disable=SC2034  # read by cni_exec
  if [[ -n $want_ip ]]; then CNI_EXTRA_ARGS="IgnoreUnknown=1;IP=$want_ip"; fi
  first=demo
  if [[ -n $pname ]]; then first=app; fi
  local -a cn
  mapfile -t cn < <(container_names "$containers" "$first")
  if ! out=$(create_pod "$node" "$seed" "$kns/${pname:-demo}" "$pname" "$ccmd" "${cn[@]}"); then
    # create_pod said why (it ran in a subshell). The lab is locked, so every namespace
    # of the lab that is new is one it made: the trap removes those.
    while read -r ns; do
      if [[ $netns_before != *" $ns "* ]]; then ADD_NEW_NETNS+=("$ns"); fi
    done < <(lab_netns)
    exit 1
  fi
  IFS=$'\t' read -r kns pname uid _ ip podns veth _ <<<"$out"
  ADD_NEW_NETNS+=("$podns")
  # shellcheck disable=SC2034  # read by cni_exec
  CNI_EXTRA_ARGS=""   # a broken container's own namespace gets host-local's choice
  full=$kns/$pname
  inventory_record_pods "$LAB_DIR/pods/$podns.json" "$ccmd" <<<"$out"
  if [[ -n $broken ]]; then
    add_broken_container "$broken" "$node" "$podns" "$(pod_cgroup "$uid")" "$pname" "$ccmd"
  fi
  local pcname cpid cid
  while IFS=$'\t' read -r pcname cpid cid; do
    container_alive "$cpid" "$cid" || die "container $pcname of pod $full exited right after it started (--command?)"
  done < <(jq -r '.containers[] | [ .name, (.pid | tostring), .id ] | @tsv' "$LAB_DIR/pods/$podns.json")
  inventory_write
  ADD_DONE=1
  trap - EXIT INT TERM HUP
  say "pod $full added on node$node: IP $ip, veth $veth, netns $podns, $(jq '.containers | length' "$LAB_DIR/pods/$podns.json") container(s)"
  printf '%s %s\n' "$full" "$ip"
}
