# shellcheck shell=bash
# scripts/lib/lab_state.sh — names and state of a lab: the generated Kubernetes-style names
# (deterministic, from sha256sum), the addressing plan (node i's namespace, addresses, pod
# CIDR), selecting and locking a lab, and what exists of it (namespaces, cgroup, data dir,
# "is it up"). Sourced by scripts/lab after lab_common.sh.

readonly K8S_ALPHABET=bcdfghjklmnpqrstvwxz2456789   # what Kubernetes uses for name suffixes

# ---------------------------------------------------------------------------- naming
# hash_hex VAR SEED N: set VAR to the first N (<= 64) hex digits of the SHA-256 of SEED
# (sha256sum of SEED and a newline). Deterministic, so the same 'up' gives the same names.
hash_hex() {
  local -n _hh_out=$1
  local _hh_sum
  _hh_sum=$(sha256sum <<<"$2")
  _hh_out=${_hh_sum:0:$3}
}

# sha256_each SEED...: print the SHA-256 of each SEED (as hash_hex takes it, 64 hex digits)
# on a line of its own, in order: one sha256sum for all of them, reading each SEED from a
# process substitution (a process per name would dominate the time 'up' takes).
sha256_each() { _sha256_each $# "$@"; }
_sha256_each() {   # N SEED... FILE...: move the N seeds to files, one recursion each
  if (( $1 == 0 )); then
    shift
    local line
    sha256sum "$@" | while read -r line _; do printf '%s\n' "$line"; done
    return
  fi
  local n=$1 seed=$2
  shift 2
  _sha256_each $(( n - 1 )) "$@" <(printf '%s\n' "$seed")
}

# k8s_rand VAR SEED LEN: a Kubernetes-looking random string (pod-template-hash, pod name
# suffix), deterministic in SEED.
k8s_rand() {
  local -n _kr_out=$1
  local _kr_h _kr_acc="" _kr_i
  hash_hex _kr_h "$2" $(( 2 * $3 ))
  for (( _kr_i = 0; _kr_i < $3; _kr_i++ )); do
    _kr_acc+=${K8S_ALPHABET:$(( 16#${_kr_h:_kr_i*2:2} % ${#K8S_ALPHABET} )):1}
  done
  _kr_out=$_kr_acc
}

# uuid_hex VAR HEX: set VAR to an RFC 4122 version-4-shaped UUID made of 32 hex digits.
uuid_hex() {
  local -n _uu_out=$1
  local _uu_h=$2 _uu_v=89ab
  _uu_out=${_uu_h:0:8}-${_uu_h:8:4}-4${_uu_h:13:3}-${_uu_v:$(( 16#${_uu_h:16:1} % 4 )):1}${_uu_h:17:3}-${_uu_h:20:12}
}

# pod_uid VAR POD_NETNS: the UID of the pod whose sandbox is POD_NETNS (deterministic, so a
# failed add-pod finds the pod's cgroup from the namespace name alone).
pod_uid() {
  local _pu_h
  hash_hex _pu_h "$LAB/$2/uid" 32
  uuid_hex "$1" "$_pu_h"
}

# The addressing plan of node I (docs/lab.md) and the gateway.
node_ns()   { printf '%s-node%s' "$LAB" "$1"; }
node_ip()   { printf '10.0.0.%s' "$(( $1 + 1 ))"; }
node_cidr() { printf '10.10.%s.0/24' "$(( 128 + $1 ))"; }
node_brip() { printf '10.10.%s.1' "$(( 128 + $1 ))"; }
gw_ns()     { printf '%s-gw' "$LAB"; }

# ---------------------------------------------------------------------------- selecting, locking
# lab_select PREFIX: set the per-lab globals.
lab_select() {
  LAB=$1
  LAB_DIR=$LAB_RUN/$LAB
  LAB_LOCK=$LAB_RUN/$LAB.lock
  if detect_cgroup2; then
    LAB_CG=$CG2/podpath-lab.$LAB
  else
    CG2="" LAB_CG=""
  fi
}

# Take the lab's lock (fd 9) for commands that change the lab; released when the process
# and its children exit. Long-lived children (containers) are started with fd 9 closed.
# The lock file is removed by down (lab_unlock); a waiter that locked a removed file
# notices (inode changed) and retries.
lab_lock() {
  local waited=0
  while :; do
    mkdir -p "$LAB_RUN"
    if ! { exec 9<>"$LAB_LOCK"; } 2>/dev/null; then sleep 0.05; continue; fi
    if ! flock -n 9; then
      if (( ! waited )); then say "waiting for another 'scripts/lab' operation on lab '$LAB' to finish"; fi
      waited=1
      flock 9
    fi
    if [[ $(stat -c %d:%i "$LAB_LOCK" 2>/dev/null) == "$(stat -L -c %d:%i /proc/self/fd/9)" ]]; then
      LAB_LOCKED=1
      return 0
    fi
    exec 9<&-
  done
}

# Remove the lock file of a lab that is gone (and the run dir if no other lab is left).
lab_unlock() {
  rm -f "$LAB_LOCK"
  rmdir "$LAB_RUN" 2>/dev/null || true
}

# ---------------------------------------------------------------------------- what exists
# Network namespaces of this lab (by name pattern only).
lab_netns() {
  local name _rest
  [[ -d /run/netns ]] || return 0
  ip netns list 2>/dev/null | while read -r name _rest; do
    if [[ $name == "$LAB-gw" || $name =~ ^$LAB-node[0-9]+$ || $name =~ ^$LAB-pod-[a-z0-9-]+$ ]]; then
      printf '%s\n' "$name"
    fi
  done
}

# Print a one-line summary of what exists of this lab; return 1 if nothing does.
lab_remains() {
  local -a nss
  local parts=()
  mapfile -t nss < <(lab_netns)
  if (( ${#nss[@]} )); then parts+=("${#nss[@]} network namespace(s)"); fi
  if [[ -n $LAB_CG && -d $LAB_CG ]]; then parts+=("cgroup $LAB_CG"); fi
  if [[ -d $LAB_DIR ]]; then parts+=("data dir $LAB_DIR"); fi
  (( ${#parts[@]} )) || return 1
  local out=${parts[0]} x
  for x in "${parts[@]:1}"; do out+=", $x"; done
  printf '%s\n' "$out"
}

inventory_file() { printf '%s/inventory.json' "$LAB_DIR"; }

# The lab is up: its inventory exists (written last by 'up') and its gateway namespace is a
# live network namespace (after a reboot on a system whose /run is not a tmpfs, the files
# would still be there, but /run/netns/PREFIX-gw would be a plain file, not an nsfs mount).
lab_is_up() {
  [[ -f $(inventory_file) && $(stat -f -c %T "/run/netns/$LAB-gw" 2>/dev/null) == nsfs ]]
}

# Die unless the lab is up (its inventory exists). Exit code as given (default 1). A lock
# taken for a lab of which nothing exists goes (its file would be all that is left of it).
lab_require_up() {
  local rc=${1:-1} remains
  lab_is_up && return 0
  if remains=$(lab_remains); then
    die_rc "$rc" "lab '$LAB' is not up, but remains of an unfinished lab exist ($remains); remove them with 'scripts/lab down --name $LAB'"
  fi
  if (( LAB_LOCKED )); then lab_unlock; fi
  die_rc "$rc" "lab '$LAB' is not up; start it with 'scripts/lab up --name $LAB'"
}
