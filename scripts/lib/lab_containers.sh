# shellcheck shell=bash
# scripts/lib/lab_containers.sh — the lab's containers: starting one (spawn_container,
# container_main_pid), running a command in one (container_run, 'scripts/lab exec'),
# telling whether one runs (container_alive), and killing and removing cgroup trees.
# Sourced by scripts/lab; uses lab_common.sh (warn, die_rc) and lab_state.sh (LAB, LAB_DIR,
# LAB_CG, inventory_file).
#
# A container is a cgroup v2 directory <lab cgroup>/kubepods/besteffort/pod<uid>/<id> plus a
# process tree started by spawn_container: a subshell moves itself into that cgroup, then
# becomes (exec, no fork) setsid -> nsenter into the pod's network namespace -> unshare of
# new mount, PID and UTS namespaces, whose forked child, PID 1 there, runs CONTAINER_INIT.
# The 'unshare' process waiting for PID 1 (the shim) is moved to <lab cgroup>/shim, so a
# container's cgroup holds only the container's own processes.
#
# CONTAINER_INIT, written to <data dir>/container-init and run by bash with arguments
# POD_NAME COMMAND podpath-lab=PREFIX (the last one marks the lab's init and shim processes
# in 'ps'), is a minimal init like 'docker run --init'. It detaches /run/netns from its
# private copy of the mount table (otherwise every container would hold a reference to
# every network namespace that existed when it started, and a deleted pod's namespace
# would live on until the last such container exits), sets the hostname, runs the command
# as its child, forwards TERM/INT/HUP to it, reaps orphans (processes left by 'scripts/lab
# exec' are re-parented to PID 1), and exits with the command's status — taking the whole
# PID namespace with it.
# shellcheck disable=SC2016,SC2034  # expanded by the container's bash; written by lab_up
readonly CONTAINER_INIT='# podpath lab container init (PID 1 of a lab container), see scripts/lib/lab_containers.sh
{ umount -l /run/netns || for f in /run/netns/*; do umount -l "$f"; done; } 2>/dev/null
printf "%s" "$1" >/proc/sys/kernel/hostname || exit 125
bash -c "$2" &
main=$!
trap '\''kill -TERM "$main" 2>/dev/null'\'' TERM INT HUP
while :; do
  wait "$main"; rc=$?
  kill -0 "$main" 2>/dev/null || break
done
exit "$rc"'
# Run a command in a running container: join its cgroup, then its namespaces.
# shellcheck disable=SC2016
readonly CONTAINER_EXEC='echo $$ >"$1/cgroup.procs" || exit 125
pid=$2; shift 2
exec nsenter -t "$pid" -n -u -m -p -- "$@"'

# pod_cgroup UID: the cgroup directory of a pod, holding one directory per container.
pod_cgroup() { printf '%s/kubepods/besteffort/pod%s' "$LAB_CG" "$1"; }

# container_log_tail POD_NETNS CONTAINER: the last lines of a container's output, on one line.
container_log_tail() { tail -n 3 "$LAB_DIR/logs/$1/$2.log" 2>/dev/null | tr '\n' ' ' || true; }

# spawn_container CGROUP_DIR NETNS_PATH HOSTNAME COMMAND LOGFILE -> SPAWNED_PID
spawn_container() {
  (
    echo "$BASHPID" >"$1/cgroup.procs" || exit 125
    exec setsid nsenter --net="$2" -- unshare --mount --pid --uts --fork --kill-child --mount-proc -- \
      bash "$LAB_DIR/container-init" "$3" "$4" "podpath-lab=$LAB"
  ) </dev/null >"$5" 2>&1 9<&- &
  # shellcheck disable=SC2034  # the caller's result
  SPAWNED_PID=$!
}

# read_status PID: set ST_PPID and ST_NSPID (array) from /proc/PID/status, without forking.
read_status() {
  local line
  ST_PPID="" ST_NSPID=()
  { while IFS= read -r line; do
      case $line in
        PPid:*) ST_PPID=${line#PPid:}; ST_PPID=${ST_PPID//[[:space:]]/} ;;
        NSpid:*) read -r -a ST_NSPID <<<"${line#NSpid:}"; break ;;
      esac
    done <"/proc/$1/status"; } 2>/dev/null || return 1
}

# container_main_pid CGROUP_DIR SPAWNED_PID: wait for the container's PID 1 (the process
# whose last NSpid is 1) to appear in its cgroup, set MAIN_PID to its pid in the root PID
# namespace, and move its parent (the shim) out to <lab cgroup>/shim.
container_main_pid() {
  local cg=$1 spawned=$2 n pid p
  local -a procs
  for (( n = 0; n < 250; n++ )); do
    procs=()
    { mapfile -t procs <"$cg/cgroup.procs"; } 2>/dev/null || true
    for pid in "${procs[@]}"; do
      read_status "$pid" || continue
      if (( ${#ST_NSPID[@]} >= 2 )) && [[ ${ST_NSPID[-1]} == 1 ]]; then
        for p in "${procs[@]}"; do
          if [[ $p == "$ST_PPID" ]]; then
            { echo "$p" >"$LAB_CG/shim/cgroup.procs"; } 2>/dev/null || true
          fi
        done
        # shellcheck disable=SC2034  # the caller's result
        MAIN_PID=$pid
        return 0
      fi
    done
    if (( ${#procs[@]} == 0 )) && ! kill -0 "$spawned" 2>/dev/null; then return 1; fi
    sleep 0.02
  done
  return 1
}

# container_run CGROUP_DIR PID CMD...: run CMD in the container whose PID 1 is PID.
container_run() {
  local cg=$1 pid=$2
  shift 2
  sh -c "$CONTAINER_EXEC" lab-exec "$cg" "$pid" "$@" 9<&-
}

# Kill every process of a cgroup subtree (cgroup.kill where the kernel has it, else SIGKILL
# to each pid in each cgroup.procs) and wait until it is empty.
cgroup_populated() {
  if [[ -r $1/cgroup.events ]]; then
    # (explicit status: a bare 'return' in code run by a trap returns the pre-trap status)
    if grep -qx 'populated 1' "$1/cgroup.events"; then return 0; fi
    return 1
  fi
  [[ -n $(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null) ]]
}

cgroup_kill_tree() {
  local root=$1 tries=0 f pid
  while cgroup_populated "$root"; do
    if (( tries % 10 == 0 )); then
      if [[ -e $root/cgroup.kill ]]; then
        echo 1 >"$root/cgroup.kill" 2>/dev/null || true
      else
        while IFS= read -r -d '' f; do
          for pid in $(cat "$f" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
        done < <(find "$root" -name cgroup.procs -print0 2>/dev/null)
      fi
    fi
    if (( ++tries > 100 )); then
      warn "processes still running in $root after 10 s"
      return 1
    fi
    sleep 0.1
  done
}

cgroup_remove_tree() {
  local root=$1 tries=0
  while [[ -d $root ]]; do
    find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
    if (( ++tries > 50 )); then warn "could not remove cgroup $root"; return 1; fi
    if [[ -d $root ]]; then sleep 0.1; fi
  done
}

# container_alive PID CONTAINER_ID: PID exists and lives in the container's cgroup.
container_alive() {
  local line found=1
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  { while IFS= read -r line; do
      if [[ $line == 0::*/"$2" ]]; then found=0; break; fi
    done <"/proc/$1/cgroup"; } 2>/dev/null || true
  return "$found"
}

# Container names after the first one (which is named after the app).
readonly -a SIDECARS=(sidecar metrics log-shipper config-reloader cache-warmer debug backup)

# container_names K APP: the pod's container names.
container_names() {
  local k
  printf '%s\n' "$2"
  for (( k = 1; k < $1; k++ )); do printf '%s\n' "${SIDECARS[k-1]}"; done
}

# ---------------------------------------------------------------------------- exec
# resolve_container POD CONTAINER: print "namespace/name container id pid cgroup netns" (TSV).
resolve_container() {
  local out
  out=$(jq -r --arg q "$1" --arg c "$2" '
    [ .pods[] | select(if ($q | contains("/")) then (.namespace + "/" + .name) == $q else .name == $q end) ] as $m
    | if ($m | length) == 0 then "ERR\tno pod \"\($q)\" in this lab (see scripts/lab status)"
      elif ($m | length) > 1 then "ERR\tpod name \"\($q)\" is ambiguous; use namespace/name: \([ $m[] | .namespace + "/" + .name ] | join(", "))"
      else $m[0] as $p
        | ([ $p.containers[] | select($c == "" or .name == $c) ][0]) as $k
        | if $k == null then "ERR\tpod \($p.namespace)/\($p.name) has no container \"\($c)\" (containers: \([ $p.containers[].name ] | join(", ")))"
          else [ "OK", ($p.namespace + "/" + $p.name), $k.name, $k.id, ($k.pid | tostring), $k.cgroup, $p.netns ] | @tsv end
      end' "$(inventory_file)")
  if [[ $out == ERR* ]]; then die_rc 125 "${out#ERR$'\t'}"; fi
  printf '%s\n' "${out#OK$'\t'}"
}

# lab_exec POD CONTAINER CMD...: 'scripts/lab exec' — run CMD in a container of POD
# (CONTAINER "" = the first one) and exit with its status; 125 if it cannot be run.
lab_exec() {
  local pod=$1 container=$2 resolved podname cname cid pid cg netns rc=0
  shift 2
  resolved=$(resolve_container "$pod" "$container") || exit 125
  IFS=$'\t' read -r podname cname cid pid cg netns <<<"$resolved" || true
  [[ -n ${netns:-} ]] || exit 125
  container_alive "$pid" "$cid" || die_rc 125 "container $cname of pod $podname is not running (pid $pid)"
  container_run "$cg" "$pid" "$@" || rc=$?
  exit "$rc"
}
