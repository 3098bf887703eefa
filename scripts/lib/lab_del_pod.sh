# shellcheck shell=bash
# scripts/lib/lab_del_pod.sh — 'scripts/lab del-pod' (lab_del_pod): remove one pod from a
# running lab the way the kubelet does: stop its containers, CNI DEL (host-local releases
# its IP, so the next 'add-pod --ip' on the node can take it), delete its network namespace
# (and a broken container's own one), drop its record and rewrite the inventory atomically
# (the lab's API server turns that into a DELETED event). Sourced by scripts/lab; uses
# lab_containers.sh, lab_cni.sh, lab_inventory.sh.

# lab_del_pod POD: POD is namespace/name or a name one pod has.
lab_del_pod() {
  local want=$1 match n
  lab_lock
  lab_require_up
  match=$(jq -r --arg p "$want" '
      [ .pods[] | select("\(.namespace)/\(.name)" == $p or .name == $p) ]
      | if length == 1 then .[0] | [ .namespace, .name, .uid, .node, .ip, .netns ] | @tsv
        else length | tostring end' "$(inventory_file)")
  if [[ $match != *$'\t'* ]]; then
    if [[ $match == 0 ]]; then die "no pod '$want' in lab '$LAB' (see scripts/lab status --name $LAB)"; fi
    die "pod name '$want' is ambiguous in lab '$LAB' ($match pods); use namespace/name"
  fi
  local kns pname uid node ip podns
  IFS=$'\t' read -r kns pname uid node ip podns <<<"$match"

  # Containers first (the kubelet stops them before tearing the sandbox down).
  local cg
  cg=$(pod_cgroup "$uid")
  if [[ -d $cg ]]; then
    cgroup_kill_tree "$cg" || true
    cgroup_remove_tree "$cg" || true
  fi
  for n in "$podns" "$podns-x"; do
    cni_del_recorded "$n"
    if [[ -e /run/netns/$n ]]; then ip netns del "$n" || warn "could not delete network namespace $n"; fi
    rm -rf "$LAB_DIR/logs/$n"
  done
  # The node's neighbour entry for the released IP still holds the deleted pod's MAC: a pod
  # that takes the IP (add-pod --ip) within the entry's reachable time (15-45 s) would get
  # frames addressed to the old MAC and drop them.
  ip -n "$LAB-$node" neigh flush to "$ip" dev "$NODE_BRIDGE" 2>/dev/null || true

  # Its record: a file of its own (add-pod), or one line among its node's pods (up).
  local f rest
  for f in "$LAB_DIR"/pods/*.json; do
    jq -se --arg n "$podns" 'any(.[]; .netns == $n)' "$f" >/dev/null 2>&1 || continue
    rest=$(jq -c --arg n "$podns" 'select(.netns != $n)' "$f")
    if [[ -n $rest ]]; then
      printf '%s\n' "$rest" >"$f.tmp"
      mv -f "$f.tmp" "$f"
    else
      rm -f "$f"
    fi
  done
  inventory_write
  say "pod $kns/$pname deleted from $node: IP $ip released, netns $podns removed"
}
