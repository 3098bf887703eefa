# shellcheck shell=bash
# scripts/lib/lab_agents.sh — one `podpath agent` per lab node (agents): each runs inside its
# node's network namespace, like a DaemonSet pod with hostNetwork, and serves
#   - HTTPS on the node's underlay address, port AGENT_PORT, with a bearer token: what a
#     client inside the cluster (another lab namespace) uses;
#   - plain HTTP on a unix socket, <data dir>/agents/NODE.sock (mode 0600): filesystem sockets
#     cross network namespaces, so clients in the root namespace reach the agents without a
#     route (the lab never adds one there);
#   - /metrics on the underlay address, port AGENT_METRICS_PORT, plain HTTP.
# The CA, the agents' certificates and the token are made once per lab (lab_pki.sh) under
# <data dir>/pki. Every agent's pid, ready file and log are in <data dir>/agents. 'down' stops
# them too. Sourced by scripts/lab; uses lab_common.sh, lab_state.sh and lab_pki.sh.

readonly AGENT_PORT=9990 AGENT_METRICS_PORT=9991
readonly AGENT_START_TIMEOUT=30   # seconds until every agent is ready

agents_dir() { printf '%s/agents' "$LAB_DIR"; }
agent_token() { printf '%s/pki/agent-token' "$LAB_DIR"; }

# lab_nodes: one TSV line per node of the inventory: NAME NETNS UNDERLAY_IP.
lab_nodes() { jq -r '.nodes[] | [.name, .netns, .underlay_ip] | @tsv' "$(inventory_file)"; }

# agent_pid NODE: print the pid of NODE's agent if one runs (its pid file names a live
# podpath agent serving this lab's socket of NODE); fail otherwise.
agent_pid() {
  local file pid cmd
  file=$(agents_dir)/$1.pid
  [[ -f $file ]] || return 1
  read -r pid <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
  [[ $cmd == *" agent "* && $cmd == *"unix:$(agents_dir)/$1.sock"* ]] || return 1
  printf '%s\n' "$pid"
}

# lab_agents_start PODPATH [AGENT_ARGS...]: start the agents that do not run yet, wait until
# every one is ready, print where they serve.
lab_agents_start() {
  local podpath=$1 name netns ip dir pid
  shift
  [[ -x $podpath ]] || die "podpath binary not found at '$podpath' (build it, or pass --podpath PATH)"
  lab_lock
  lab_require_up
  dir=$(agents_dir)
  mkdir -p "$dir"
  chmod 700 "$dir"
  pki_ca "$LAB_DIR/pki" || die "cannot make the lab's CA"
  pki_token "$(agent_token)" || die "cannot make the agents' token"
  local -a started=()
  while IFS=$'\t' read -r name netns ip; do
    if pid=$(agent_pid "$name"); then
      say "agent on $name already runs (pid $pid)"
      continue
    fi
    [[ -s $LAB_DIR/pki/agent-$name.crt ]] ||
      pki_cert "$LAB_DIR/pki" "agent-$name" serverAuth "IP:$ip" "DNS:$name" || die "cannot make $name's certificate"
    rm -f "$dir/$name.ready"
    # setsid: no terminal signal reaches them; fd 9 (the lab lock) stays with this script.
    setsid nsenter --net="/run/netns/$netns" -- "$podpath" agent --lab "$LAB" --node "$name" \
      --listen "$ip:$AGENT_PORT" --listen "unix:$dir/$name.sock" --metrics-listen "$ip:$AGENT_METRICS_PORT" \
      --tls-cert "$LAB_DIR/pki/agent-$name.crt" --tls-key "$LAB_DIR/pki/agent-$name.key" \
      --token-file "$(agent_token)" --ready-file "$dir/$name.ready" "$@" \
      </dev/null >"$dir/$name.log" 2>&1 9>&- &
    printf '%s\n' "$!" >"$dir/$name.pid"
    started+=("$name")
  done < <(lab_nodes)
  local waited=0 all n
  while :; do
    all=1
    for n in "${started[@]}"; do
      [[ -f $dir/$n.ready ]] && continue
      all=0
      # Just forked, the child is still this script until it execs the agent: only a pid that
      # is gone means the agent exited.
      if ! agent_pid "$n" >/dev/null && ! kill -0 "$(cat "$dir/$n.pid" 2>/dev/null)" 2>/dev/null; then
        tail -n 5 "$dir/$n.log" >&2 || true
        die "the agent on $n exited before it was ready (log: $dir/$n.log)"
      fi
    done
    (( all )) && break
    (( waited < AGENT_START_TIMEOUT * 10 )) || die "agents not ready after ${AGENT_START_TIMEOUT} s (logs in $dir)"
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  lab_agents_status
}

# agents_stop_all QUIET: SIGTERM every agent of the lab and wait (up to 10 s each, then
# SIGKILL); forget their pid and ready files. QUIET=1: no messages (teardown).
agents_stop_all() {
  local quiet=$1 dir file name pid i
  dir=$(agents_dir)
  [[ -d $dir ]] || return 0
  for file in "$dir"/*.pid; do
    [[ -e $file ]] || continue
    name=$(basename "$file" .pid)
    if pid=$(agent_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      for (( i = 0; i < 100; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        (( quiet )) || warn "the agent on $name did not stop within 10 s; killed it"
      else
        (( quiet )) || say "agent on $name stopped (pid $pid)"
      fi
    fi
    rm -f "$file" "$dir/$name.ready"
  done
}

lab_agents_stop() {
  lab_lock
  [[ -d $(agents_dir) ]] || { say "no agents run in lab '$LAB'"; return 0; }
  agents_stop_all 0
}

# lab_agents_status: one line per node: its agent's state and where it serves. Exits 1 if
# an agent is missing or not ready.
lab_agents_status() {
  local dir name netns ip pid state bad=0
  local -a rows=()
  dir=$(agents_dir)
  rows+=("$(tsv_line NODE STATE PID API SOCKET METRICS)")
  while IFS=$'\t' read -r name netns ip; do
    if pid=$(agent_pid "$name"); then
      state=starting
      if [[ -f $dir/$name.ready ]]; then state=ready; fi
      if [[ $state == ready ]] && command -v curl >/dev/null &&
         ! curl -fsS --max-time 2 --unix-socket "$dir/$name.sock" http://agent/readyz >/dev/null 2>&1; then
        state=not-ready
      fi
    else
      pid=- state=stopped
    fi
    [[ $state == ready ]] || bad=1
    rows+=("$(tsv_line "$name" "$state" "$pid" "https://$ip:$AGENT_PORT" "unix:$dir/$name.sock" "http://$ip:$AGENT_METRICS_PORT")")
  done < <(lab_nodes)
  printf '%s\n' "${rows[@]}" | print_table
  printf '\ntoken: %s   CA: %s\n' "$(agent_token)" "$LAB_DIR/pki/ca.crt"
  return "$bad"
}
