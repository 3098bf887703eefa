# shellcheck shell=bash
# scripts/lib/lab_teardown.sh — removing a lab from its names alone (no inventory needed, so a
# half-built lab goes too): teardown, used by 'up' to clean remains and failures, and
# 'scripts/lab down' (lab_down). Sourced by scripts/lab; uses lab_state.sh, lab_cni.sh
# (cni_del_all), lab_containers.sh (cgroup_kill_tree, cgroup_remove_tree) and lab_agents.sh
# (agents_stop_all).

# Remove everything of the lab, from names alone (cgroup dir, namespace names, data dir).
teardown() {
  local ns
  local -a nss
  agents_stop_all 1   # before their namespaces go
  if [[ -n $LAB_CG && -d $LAB_CG ]]; then cgroup_kill_tree "$LAB_CG" || true; fi
  cni_del_all
  mapfile -t nss < <(lab_netns)
  # Pods first, then nodes, then the gateway (any order works; this one is tidy). One 'ip'
  # process for all of them.
  if (( ${#nss[@]} )); then
    {
      for ns in "${nss[@]}"; do if [[ $ns == "$LAB"-pod-* ]]; then echo "netns del $ns"; fi; done
      for ns in "${nss[@]}"; do if [[ $ns != "$LAB"-pod-* ]]; then echo "netns del $ns"; fi; done
    } | ip -force -batch - 2>/dev/null || true
    mapfile -t nss < <(lab_netns)
    for ns in "${nss[@]}"; do
      ip netns del "$ns" 2>/dev/null || warn "could not delete network namespace $ns"
    done
  fi
  if [[ -n $LAB_CG && -d $LAB_CG ]]; then cgroup_remove_tree "$LAB_CG" || true; fi
  rm -rf "$LAB_DIR"
}

# lab_down: 'scripts/lab down' of the selected lab.
lab_down() {
  local t0 remains
  t0=$(now)
  lab_lock
  if ! remains=$(lab_remains); then
    lab_unlock
    say "lab '$LAB' is not up; nothing to remove"
    return 0
  fi
  say "removing lab '$LAB': $remains"
  teardown
  if remains=$(lab_remains); then
    die "lab '$LAB' could not be removed completely; left: $remains"
  fi
  lab_unlock
  say "lab '$LAB' removed in $(elapsed "$t0") s"
}
