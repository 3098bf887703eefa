# shellcheck shell=bash
# scripts/lib/lab_status.sh — 'scripts/lab status' (lab_status): the lab's gateway, nodes and
# pods from its inventory, like 'kubectl get nodes,po -o wide', with what is running now.
# Sourced by scripts/lab; uses lab_common.sh (print_table), lab_state.sh and
# lab_containers.sh (container_alive).

# age TIMESTAMP: how long ago an RFC 3339 time was, the way kubectl says it (45s, 12m, 3h).
age() {
  local s
  s=$(( $(date +%s) - $(date -d "$1" +%s) ))
  if (( s < 120 )); then printf '%ss' "$s"
  elif (( s < 7200 )); then printf '%sm' "$(( s / 60 ))"
  else printf '%sh' "$(( s / 3600 ))"; fi
}

# lab_status: 'scripts/lab status' of the selected lab (which must be up).
lab_status() {
  local inv age
  inv=$(inventory_file)
  age=$(age "$(jq -r .created "$inv")")
  printf 'LAB %s   up %s   underlay %s   gateway %s %s (%s)   inventory %s\n\n' "$LAB" "$age" \
    "$(jq -r .underlay.cidr "$inv")" "$(jq -r .gateway.netns "$inv")" "$(jq -r .gateway.ip "$inv")" \
    "$(jq -r .gateway.interface "$inv")" "$inv"

  local name netns ip cidr brip npods st
  {
    tsv_line NODE STATUS INTERNAL-IP POD-CIDR BRIDGE NETNS PODS
    while IFS=$'\t' read -r name netns ip cidr brip npods; do
      st=NotReady
      if [[ -e /run/netns/$netns ]]; then st=Ready; fi
      tsv_line "$name" "$st" "$ip" "$cidr" "cbr0 $brip" "$netns" "$npods"
    done < <(jq -r '.pods as $p | .nodes[] | .name as $n
      | [ .name, .netns, .underlay_ip, .pod_cidr, .bridge_ip, ([$p[] | select(.node == $n)] | length | tostring) ] | @tsv' "$inv")
  } | print_table
  echo

  local ns pname pip node veth pnetns conts total ready c
  {
    tsv_line NAMESPACE NAME READY STATUS AGE IP NODE VETH
    while IFS=$'\t' read -r ns pname pip node veth pnetns conts; do
      total=0 ready=0
      for c in $conts; do
        total=$(( total + 1 ))
        if container_alive "${c%%:*}" "${c#*:}"; then ready=$(( ready + 1 )); fi
      done
      if [[ ! -e /run/netns/$pnetns ]]; then st=Unknown
      elif (( ready == total )); then st=Running
      elif (( ready == 0 )); then st=Error
      else st=NotReady; fi
      tsv_line "$ns" "$pname" "$ready/$total" "$st" "$age" "$pip" "$node" "$veth"
    done < <(jq -r '.pods[] | [ .namespace, .name, .ip, .node, .veth, .netns,
                                 ([ .containers[] | "\(.pid):\(.id)" ] | join(" ")) ] | @tsv' "$inv")
  } | print_table
}
