# shellcheck shell=bash
# scripts/lib/lab_apiserver.sh — the lab's Kubernetes API server (scripts/lib/lab_apiserver.py,
# docs/kubernetes.md): started by 'up' once the inventory exists, by 'apiserver start';
# stopped by 'apiserver stop', and by 'down' with everything else (its processes live in
# the lab's cgroup, <lab cgroup>/apiserver, so a half-built lab loses them too).
#
# The server follows the inventory file and serves it over HTTPS with a CA and a bearer
# token the lab makes (<data dir>/apiserver/tls). It listens on 127.0.0.1:PORT, for users
# and tests in the root namespace (loopback only: the lab never routes 10.x from there),
# and on a unix socket; a socat in the gateway namespace serves that socket on
# 10.0.0.1:6443, so clients inside the lab's namespaces (in-cluster agents on the nodes)
# reach it over the underlay. The server certificate covers 127.0.0.1 and 10.0.0.1.
# Sourced by scripts/lab; uses lab_common.sh, lab_state.sh and lab_procs.sh.

readonly APISERVER_GW_PORT=6443

api_dir() { printf '%s/apiserver' "$LAB_DIR"; }
api_cgroup() { printf '%s/apiserver' "$LAB_CG"; }
# The kubeconfig for the root namespace (https://127.0.0.1:PORT) and the one for clients
# inside the lab's namespaces (https://10.0.0.1:6443).
kubeconfig_file() { printf '%s/kubeconfig' "$(api_dir)"; }
kubeconfig_in_cluster_file() { printf '%s/kubeconfig-in-cluster' "$(api_dir)"; }

# api_pids: the processes of the lab's API server (server and forwarder).
api_pids() { cat "$(api_cgroup)/cgroup.procs" 2>/dev/null || true; }

# api_spawn LOG CMD...: CMD in the background, in the API server's cgroup, detached from
# the terminal and from the lab's lock (fd 9). Sets API_SPAWNED to its pid.
api_spawn() {
  local logf=$1
  shift
  (
    echo "$BASHPID" >"$(api_cgroup)/cgroup.procs" || exit 125
    exec setsid "$@"
  ) </dev/null >>"$logf" 2>&1 9<&- &
  # shellcheck disable=SC2034  # the caller's result
  API_SPAWNED=$!
}

# api_start: start the server (on the port it had before, if it ran before) and the
# forwarder; wait until the server accepts connections. Dies naming the log on failure.
api_start() {
  local dir port=0 url n
  dir=$(api_dir)
  mkdir -p "$dir" "$(api_cgroup)"
  if [[ -n $(api_pids) ]]; then die "the API server of lab '$LAB' is already running"; fi
  if [[ -s $dir/port ]]; then port=$(<"$dir/port"); fi
  rm -f "$dir/ready"
  api_spawn "$dir/apiserver.log" python3 "$LAB_LIB/lab_apiserver.py" serve --inventory "$(inventory_file)" \
    --listen "127.0.0.1:$port" --unix "$dir/api.sock" --tls-dir "$dir/tls" --san "$GW_IP" \
    --kubeconfig-out "$(kubeconfig_file)" --ready-file "$dir/ready"
  local server=$API_SPAWNED
  for (( n = 0; n < 300; n++ )); do
    [[ -s $dir/ready ]] && break
    kill -0 "$server" 2>/dev/null || die "the lab API server did not start: $(tail -n 3 "$dir/apiserver.log" | tr '\n' ' ')"
    sleep 0.1
  done
  [[ -s $dir/ready ]] || die "the lab API server did not get ready in 30 s (see $dir/apiserver.log)"
  url=$(<"$dir/ready")
  port=${url##*:}
  printf '%s\n' "$port" >"$dir/port"
  sed -E "s#^( *server: ).*#\\1https://$GW_IP:$APISERVER_GW_PORT#" "$(kubeconfig_file)" >"$(kubeconfig_in_cluster_file).tmp"
  chmod 600 "$(kubeconfig_in_cluster_file).tmp"
  mv -f "$(kubeconfig_in_cluster_file).tmp" "$(kubeconfig_in_cluster_file)"
  api_spawn "$dir/forwarder.log" nsenter --net="/run/netns/$(gw_ns)" -- \
    socat "TCP-LISTEN:$APISERVER_GW_PORT,bind=$GW_IP,reuseaddr,fork" "UNIX-CONNECT:$dir/api.sock"
  # The forwarder listens once its socket shows in the gateway's namespace.
  for (( n = 0; n < 100; n++ )); do
    if ip netns exec "$(gw_ns)" ss -Hltn "sport = :$APISERVER_GW_PORT" 2>/dev/null | grep -q .; then
      say "API server: $url (root namespace), https://$GW_IP:$APISERVER_GW_PORT (inside the lab); kubeconfig $(kubeconfig_file)"
      return 0
    fi
    sleep 0.05
  done
  die "the API server's forwarder in $(gw_ns) did not start: $(tail -n 3 "$dir/forwarder.log" | tr '\n' ' ')"
}

# api_stop: stop the server and the forwarder (SIGTERM, then SIGKILL), keeping their files
# (CA, token, port, state), so that 'apiserver start' brings the same server back.
api_stop() {
  local -a pids
  local n
  mapfile -t pids < <(api_pids)
  (( ${#pids[@]} )) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for (( n = 0; n < 50; n++ )); do
    [[ -z $(api_pids) ]] && return 0
    sleep 0.1
  done
  mapfile -t pids < <(api_pids)
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# lab_apiserver ACTION: 'scripts/lab apiserver start|stop|status'.
lab_apiserver() {
  lab_require_up
  case $1 in
    start) lab_lock; api_start ;;
    stop)
      lab_lock
      if [[ -z $(api_pids) ]]; then say "the API server of lab '$LAB' is not running"; return 0; fi
      api_stop
      say "API server of lab '$LAB' stopped (start it again with 'scripts/lab apiserver start --name $LAB')" ;;
    status)
      if [[ -n $(api_pids) ]]; then
        say "API server of lab '$LAB': running, https://127.0.0.1:$(cat "$(api_dir)/port" 2>/dev/null) and https://$GW_IP:$APISERVER_GW_PORT"
      else
        say "API server of lab '$LAB': stopped"
        exit 1
      fi ;;
  esac
}

# lab_kubeconfig IN_CLUSTER: 'scripts/lab kubeconfig': the path of the kubeconfig.
lab_kubeconfig() {
  lab_require_up
  local f
  if (( $1 )); then f=$(kubeconfig_in_cluster_file); else f=$(kubeconfig_file); fi
  [[ -f $f ]] || die "lab '$LAB' has no kubeconfig ($f): start its API server with 'scripts/lab apiserver start --name $LAB'"
  printf '%s\n' "$f"
}
