# shellcheck shell=bash
# scripts/lib/lab_services.sh — Kubernetes Services in the lab, the way kube-proxy's iptables
# mode implements them ('scripts/lab service add|del|list', lab_service_*). Sourced by
# scripts/lab; uses lab_common.sh, lab_state.sh, lab_containers.sh (container_run),
# lab_procs.sh (kill_trees), lab_inventory.sh (inventory_write) and lab_traffic.sh
# (wait_listening).
#
# A Service gets a ClusterIP from SERVICE_CIDR (the lowest free address from .10 on) and, in
# every node namespace (never the root namespace), the nat and filter rules kube-proxy
# writes for it:
#   nat PREROUTING/OUTPUT -> KUBE-SERVICES -> KUBE-SVC-<hash> (one per service port)
#       -> KUBE-SEP-<hash> (one per endpoint, picked by 'statistic --mode random
#       --probability 1/n', 1/(n-1), ... as kube-proxy writes them) -> DNAT to POD_IP:TARGET
#   KUBE-MARK-MASQ for traffic from outside the cluster CIDR and for hairpin (a pod reaching
#       itself through its Service); KUBE-POSTROUTING masquerades what is marked
#   filter FORWARD/OUTPUT -> KUBE-SERVICES: REJECT (ICMP port unreachable) for a Service
#       without endpoints
# Chain names are kube-proxy's: base32 of the SHA-256 of "namespace/name:port-name" plus the
# protocol (and the endpoint for KUBE-SEP), first 16 characters. Every change re-writes the
# whole KUBE-* ruleset of every node from the service records (a full sync, as kube-proxy
# does), so 'del' and 'heal' leave no stale chain; the namespaces go with 'down'.
#
# Records: <data dir>/services/NAMESPACE_NAME.json, listed in the inventory's "services"
# (docs/inventory.md). 'add' also starts a TCP (or UDP) echo server on the target port in
# each backend pod's first container, in that container's cgroup; 'del' stops it.

readonly SERVICE_IP_FIRST=10.96.0.10
readonly CLUSTER_CIDR=10.10.128.0/17            # every node's pod CIDR (nodes 1..16)
readonly KUBE_MARK_MASQ_BIT=0x4000
readonly SERVICE_PORT_NAME=http                 # the one port of a lab Service

services_dir() { printf '%s/services' "$LAB_DIR"; }

# kube_hash VAR TEXT: kube-proxy's chain-name hash: the first 16 characters of the base32 of
# the SHA-256 of TEXT.
kube_hash() {
  local -n _kh_out=$1
  local _kh_hex
  _kh_hex=$(printf '%s' "$2" | sha256sum)
  _kh_hex=${_kh_hex%% *}
  _kh_out=$(printf '%s' "${_kh_hex^^}" | basenc --base16 -d | base32 -w 0)
  _kh_out=${_kh_out:0:16}
}

# service_parse_name ARG: set S_NS and S_NAME from [namespace/]name (default namespace 'default').
service_parse_name() {
  local dns1123='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
  S_NS=default S_NAME=$1
  if [[ $1 == */* ]]; then S_NS=${1%%/*} S_NAME=${1#*/}; fi
  [[ $S_NS =~ $dns1123 && $S_NAME =~ $dns1123 ]] ||
    usage_die "the service must be a DNS-1123 name or namespace/name (got '$1')"
}

service_file() { printf '%s/%s_%s.json' "$(services_dir)" "$1" "$2"; }

# service_next_ip: the lowest address from SERVICE_IP_FIRST not held by a Service.
service_next_ip() {
  local used n
  used=$(jq -rs '[.[].cluster_ip] | join(" ")' "$(services_dir)"/*.json 2>/dev/null || true)
  for (( n = ${SERVICE_IP_FIRST##*.}; n < 65536; n++ )); do
    local ip=10.96.$(( n / 256 )).$(( n % 256 ))
    [[ " $used " == *" $ip "* ]] || { printf '%s\n' "$ip"; return 0; }
  done
  die "the service CIDR $SERVICE_CIDR is full"
}

# services_ruleset: the iptables-restore input (nat and filter tables) for every Service
# recorded, as kube-proxy's full sync writes it. Chains declared here are flushed by
# iptables-restore --noflush; chains of Services that are gone are deleted (-X).
services_ruleset() {
  local existing_nat=$1
  jq -rs --arg cluster "$CLUSTER_CIDR" --arg mark "$KUBE_MARK_MASQ_BIT/$KUBE_MARK_MASQ_BIT" \
    --arg unmark "$KUBE_MARK_MASQ_BIT/0x0" --arg pn "$SERVICE_PORT_NAME" \
    --arg old_nat "$existing_nat" '
    def svcname: "\(.namespace)/\(.name):\($pn)";
    def proto: .protocol | ascii_downcase;
    # kube-proxy: probability 1/(n-i) for endpoint i of n ("%0.10f"), the last one unconditional.
    def prob($i; $n): ((1e10 / ($n - $i)) | round | tostring) as $x | "0." + ("0000000000" + $x)[-10:];
    sort_by(.namespace, .name) as $svcs
    | ([ $svcs[] | select(.backends | length > 0) | .svc_chain, (.backends[].sep_chain) ]) as $chains
    | ($old_nat | split(" ") | map(select(startswith("KUBE-SVC-") or startswith("KUBE-SEP-"))) - $chains) as $gone
    | "*nat",
      ( ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"] + $chains + $gone | .[] | ":\(.) - [0:0]" ),
      ( $gone[] | "-X \(.)" ),
      "-A KUBE-MARK-MASQ -j MARK --set-xmark \($mark)",
      "-A KUBE-POSTROUTING -m mark ! --mark \($mark) -j RETURN",
      "-A KUBE-POSTROUTING -j MARK --set-xmark \($unmark)",
      "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
      ( $svcs[] | select(.backends | length > 0) | . as $s | svcname as $sn | proto as $p
        | "-A KUBE-SERVICES -d \(.cluster_ip)/32 -p \($p) -m comment --comment \"\($sn) cluster IP\" -m \($p) --dport \(.port) -j \(.svc_chain)",
          "-A \(.svc_chain) ! -s \($cluster) -d \(.cluster_ip)/32 -p \($p) -m comment --comment \"\($sn) cluster IP\" -m \($p) --dport \(.port) -j KUBE-MARK-MASQ",
          ( .backends | length as $n | to_entries[] | .key as $i | .value
            | "-A \($s.svc_chain) -m comment --comment \"\($sn) -> \(.ip):\($s.target_port)\""
              + (if $i < $n - 1 then " -m statistic --mode random --probability \(prob($i; $n))" else "" end)
              + " -j \(.sep_chain)" ),
          ( .backends[]
            | "-A \(.sep_chain) -s \(.ip)/32 -m comment --comment \"\($sn)\" -j KUBE-MARK-MASQ",
              "-A \(.sep_chain) -p \($p) -m comment --comment \"\($sn)\" -m \($p) -j DNAT --to-destination \(.ip):\($s.target_port)" ) ),
      "COMMIT",
      "*filter",
      ":KUBE-SERVICES - [0:0]",
      ( $svcs[] | select(.backends | length == 0) | svcname as $sn | proto as $p
        | "-A KUBE-SERVICES -d \(.cluster_ip)/32 -p \($p) -m comment --comment \"\($sn) has no endpoints\" -m \($p) --dport \(.port) -j REJECT --reject-with icmp-port-unreachable" ),
      "COMMIT"' < <(cat "$(services_dir)"/*.json 2>/dev/null || true)
}

# ipt_hook NS TABLE CHAIN RULE...: insert RULE at the head of CHAIN once (kube-proxy's jumps).
ipt_hook() {
  local ns=$1 table=$2 chain=$3
  shift 3
  ip netns exec "$ns" iptables -w -t "$table" -C "$chain" "$@" 2>/dev/null ||
    ip netns exec "$ns" iptables -w -t "$table" -I "$chain" 1 "$@"
}

# services_sync: write the KUBE-* rules of every recorded Service into every node namespace.
services_sync() {
  local ns nat_chains
  mkdir -p "$(services_dir)"
  while read -r ns; do
    ipn "$ns" link show "$NODE_UPLINK" >/dev/null 2>&1 || continue
    ip netns exec "$ns" iptables -w -t nat -N KUBE-SERVICES 2>/dev/null || true
    ip netns exec "$ns" iptables -w -t nat -N KUBE-POSTROUTING 2>/dev/null || true
    ip netns exec "$ns" iptables -w -t filter -N KUBE-SERVICES 2>/dev/null || true
    ipt_hook "$ns" nat PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    ipt_hook "$ns" nat OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    ipt_hook "$ns" nat POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
    ipt_hook "$ns" filter FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    ipt_hook "$ns" filter OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
    nat_chains=$(ip netns exec "$ns" iptables-save -t nat | sed -n 's/^:\(KUBE-[A-Z0-9-]*\) .*/\1/p' | tr '\n' ' ')
    services_ruleset "$nat_chains" | ip netns exec "$ns" iptables-restore -w --noflush ||
      die "iptables-restore failed in $ns"
  done < <(jq -r '.nodes[].netns' "$(inventory_file)")
}

# service_servers_start FILE: an echo server on the target port in each backend's first
# container (left running, in the container's cgroup); their pids go into FILE's "servers".
service_servers_start() {
  local f=$1 proto port pod cg pid
  local -a pids=()
  proto=$(jq -r '.protocol | ascii_downcase' "$f")
  port=$(jq -r '.target_port' "$f")
  while IFS=$'\t' read -r pod cg pid; do
    if [[ $proto == tcp ]]; then
      container_run "$cg" "$pid" setsid socat TCP-LISTEN:"$port",reuseaddr,fork PIPE </dev/null >/dev/null 2>&1 9<&- &
    else
      container_run "$cg" "$pid" setsid socat UDP-RECVFROM:"$port",reuseaddr,fork PIPE </dev/null >/dev/null 2>&1 9<&- &
    fi
    pids+=("$!")
    wait_listening "$pid" "$proto" "$port" || die "the echo server on $proto port $port did not start in pod $pod"
  done < <(jq -r --slurpfile inv "$(inventory_file)" '
      .backends[].pod as $p | $inv[0].pods[] | select("\(.namespace)/\(.name)" == $p)
      | [ $p, .containers[0].cgroup, (.containers[0].pid | tostring) ] | @tsv' "$f")
  jq --argjson pids "$(printf '%s\n' "${pids[@]}" | jq -s .)" '.servers = $pids' "$f" >"$f.tmp"
  mv -f "$f.tmp" "$f"
}

# lab_service_add NS NAME PORT TARGET_PORT PROTO BACKENDS(comma-separated pods) SERVE(0|1)
lab_service_add() {
  local ns=$1 name=$2 port=$3 tport=$4 proto=$5 backends=$6 serve=$7 f ip svc_chain
  lab_lock
  lab_require_up
  mkdir -p "$(services_dir)"
  f=$(service_file "$ns" "$name")
  [[ ! -e $f ]] || die "service $ns/$name exists already (scripts/lab service del $ns/$name --name $LAB)"
  ip=$(service_next_ip)
  kube_hash svc_chain "$ns/$name:$SERVICE_PORT_NAME${proto,,}"
  svc_chain=KUBE-SVC-$svc_chain
  # Backends: pods of the inventory, each once.
  local -a rows=() blist=()
  local -A seen=()
  local b out pod pip node sep
  IFS=, read -r -a blist <<<"$backends"
  for b in "${blist[@]}"; do
    [[ -n $b ]] || continue
    fault_pod "$b"
    pod=$F_POD pip=$F_POD_IP node=$F_POD_NODE
    [[ -z ${seen[$pod]:-} ]] || die "backend $pod is listed twice"
    seen[$pod]=1
    kube_hash sep "$ns/$name:$SERVICE_PORT_NAME${proto,,}$pip:$tport"
    rows+=("$(tsv_line "$pod" "$pip" "$node" "KUBE-SEP-$sep")")
  done
  printf '%s\n' "${rows[@]}" |
    inventory_record_service "$f" "$ns" "$name" "$ip" "${proto^^}" "$port" "$tport" "$SERVICE_PORT_NAME" "$svc_chain"
  if (( serve )) && [[ -n $backends ]]; then service_servers_start "$f"; fi
  services_sync
  inventory_write
  out=$(jq -r '[.backends[] | "\(.pod) \(.ip):\(.node)"] | join(", ")' "$f")
  say "service $ns/$name: ClusterIP $ip ${proto,,}/$port -> target port $tport; chain $svc_chain; endpoints: ${out:-none (REJECT)}"
  printf '%s %s:%s\n' "$ns/$name" "$ip" "$port"
}

# lab_service_del NS NAME
lab_service_del() {
  local ns=$1 name=$2 f
  lab_lock
  lab_require_up
  f=$(service_file "$ns" "$name")
  [[ -e $f ]] || die "no service $ns/$name in lab '$LAB' (scripts/lab service list --name $LAB)"
  local -a pids
  mapfile -t pids < <(jq -r '.servers[]?' "$f" "$f.healthy" 2>/dev/null || true)
  kill_trees "${pids[@]}"
  rm -f "$f" "$f.healthy"
  services_sync
  inventory_write
  say "service $ns/$name deleted"
}

# lab_service_list: the Services like 'kubectl get svc,endpointslices'.
lab_service_list() {
  lab_require_up
  {
    tsv_line NAMESPACE NAME CLUSTER-IP PORT ENDPOINTS CHAIN
    jq -rs '.[] | [ .namespace, .name, .cluster_ip, "\(.port)/\(.protocol) -> \(.target_port)",
                    ([.backends[] | "\(.ip):\(.node)"] | join(",") | if . == "" then "<none>" else . end),
                    .svc_chain ] | @tsv' "$(services_dir)"/*.json 2>/dev/null || true
  } | print_table
}

# ---------------------------------------------------------------------------- faults
# break service-no-endpoints SERVICE: the Service keeps its ClusterIP but loses every endpoint
# (kube-proxy then REJECTs its traffic on every node). Healed by restoring the record.
break_service_no_endpoints() {
  (( $# == 1 )) || usage_die "service-no-endpoints needs SERVICE"
  service_parse_name "$1"
  local f
  f=$(service_file "$S_NS" "$S_NAME")
  [[ -e $f ]] || die "no service $S_NS/$S_NAME in lab '$LAB'"
  fault_active service-no-endpoints "$S_NS/$S_NAME" && die "service-no-endpoints $S_NS/$S_NAME is already active"
  cp -f "$f" "$f.healthy"
  jq '.backends = []' "$f.healthy" >"$f.tmp"
  mv -f "$f.tmp" "$f"
  services_sync
  inventory_write
  fault_record service-no-endpoints "$S_NS/$S_NAME" "service $S_NS/$S_NAME has no endpoints (kube-proxy REJECTs it)" \
    mv -f "$f.healthy" "$f"
}

# break backend-node-down NODE: NODE's uplink goes down; its pods stay endpoints of their
# Services (the node is not yet NotReady: kube-proxy elsewhere keeps sending to them).
break_backend_node_down() {
  (( $# == 1 )) || usage_die "backend-node-down needs NODE"
  fault_node "$1"
  fault_active backend-node-down "$F_NODE" && die "backend-node-down $F_NODE is already active"
  # A link going down takes its routes with it: the seed's DHCP routes come back last.
  printf '%s\t%s\t%s\t%s\n' backend-node-down "$F_NODE" "$F_NODE's default route via $GW_IP is back" \
    "ip -n $F_NODE_NS route replace default via $GW_IP dev $NODE_UPLINK proto dhcp metric 100" >>"$(faults_file)"
  printf '%s\t%s\t%s\t%s\n' backend-node-down "$F_NODE" "$F_NODE's route to $GW_IP is back" \
    "ip -n $F_NODE_NS route replace $GW_IP/32 dev $NODE_UPLINK proto dhcp scope link metric 100" >>"$(faults_file)"
  ip -n "$F_NODE_NS" link set "$NODE_UPLINK" down
  fault_record backend-node-down "$F_NODE" "$F_NODE's $NODE_UPLINK is down; its pods remain endpoints" \
    ip -n "$F_NODE_NS" link set "$NODE_UPLINK" up
}
