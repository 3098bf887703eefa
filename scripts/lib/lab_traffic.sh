# shellcheck shell=bash
# scripts/lib/lab_traffic.sh — 'scripts/lab traffic' (lab_traffic): a standard, repeatable mix of
# ping, TCP and UDP between pods, same node and cross node, from inside the pods'
# containers. jq plans it from the inventory (traffic_plan); bash starts the echo servers
# and clients, waits for them and prints one table row per flow. Sourced by scripts/lab;
# uses lab_common.sh, lab_state.sh, lab_containers.sh (container_run, container_alive) and
# lab_procs.sh (kill_trees).

readonly TRAFFIC_TCP_PORT=8080 TRAFFIC_UDP_PORT=9000
readonly -a TRAFFIC_PROTOS=(icmp tcp udp)

TRAFFIC_PIDS=()
TRAFFIC_DIR=""

# EXIT trap of lab_traffic: stop every server and client it started, remove its files.
traffic_cleanup() {
  local rc=$?
  trap '' INT TERM HUP
  kill_trees "${TRAFFIC_PIDS[@]}"
  if (( ${#TRAFFIC_PIDS[@]} )); then wait "${TRAFFIC_PIDS[@]}" 2>/dev/null || true; fi
  if [[ -n $TRAFFIC_DIR ]]; then rm -rf "$TRAFFIC_DIR"; fi
  exit "$rc"
}

# traffic_plan: what to send, from the inventory, as TSV lines of three kinds:
#   ctr   POD CONTAINER PID ID                  every container (all must be running)
#   srv   DST POD CGROUP PID                    an echo server in destination pod DST's
#                                               first container (DST: the pod's index)
#   flow  KIND PROTO FROM FROM_IP TO TO_IP CONTAINER CGROUP PID
#                                               a client in a container of the source pod,
#                                               one per pair and protocol
#   svc   PROTO FROM FROM_IP SERVICE CLUSTER_IP PORT CONTAINER CGROUP PID
#                                               connections to a Service from the first pod
#                                               that is not one of its backends, in that
#                                               pod's first container (Services without
#                                               endpoints are left out)
# Pairs: per node (in order), its first pod to its second pod (same-node) and its first pod
# to the last pod of the next node (cross-node). The source pod's containers take turns:
# ping in the first, TCP in the second, UDP in the third, wrapping around. The backends of a
# Service run their echo servers already ('service add').
traffic_plan() {
  jq -r '
    def full: .namespace + "/" + .name;
    $ARGS.positional as $protos
    | (.pods | to_entries) as $pods
    | [ .nodes[].name as $n | [ $pods[] | select(.value.node == $n) ] ] as $by
    | ($by | length) as $nn
    | [ range($nn) as $i | $by[$i] as $here | select($here | length > 0)
        | (if ($here | length) >= 2 then { src: $here[0], dst: $here[1], kind: "same-node" } else empty end),
          (if $nn >= 2 and ($by[($i + 1) % $nn] | length) > 0
           then { src: $here[0], dst: $by[($i + 1) % $nn][-1], kind: "cross-node" } else empty end) ] as $pairs
    | ( $pods[].value | full as $p | .containers[] | [ "ctr", $p, .name, (.pid | tostring), .id ] ),
      ( reduce $pairs[].dst as $d ([]; if any(.[]; .key == $d.key) then . else . + [$d] end)
        | .[] | [ "srv", (.key | tostring), (.value | full), .value.containers[0].cgroup,
                  (.value.containers[0].pid | tostring) ] ),
      ( $pairs[] as $pair | $pair.src.value.containers as $cs
        | $protos | to_entries[] | $cs[.key % ($cs | length)] as $c
        | [ "flow", $pair.kind, .value, ($pair.src.value | full), $pair.src.value.ip,
            ($pair.dst.value | full), $pair.dst.value.ip, $c.name, $c.cgroup, ($c.pid | tostring) ] ),
      ( (.services // [])[] | select(.backends | length > 0) as $s
        | [ $s.backends[].pod ] as $b
        | first($pods[].value | select(full as $p | $b | index($p) | not)) as $client
        | $client.containers[0] as $c
        | [ "svc", ($s.protocol | ascii_downcase), ($client | full), $client.ip,
            "\($s.namespace)/\($s.name)", $s.cluster_ip, ($s.port | tostring), $c.name, $c.cgroup,
            ($c.pid | tostring) ] )
    | @tsv' "$(inventory_file)" --args "${TRAFFIC_PROTOS[@]}"
}

# wait_listening PID PROTO(tcp|udp) PORT: wait (up to 5 s) until a socket listens on PORT
# in the network namespace of PID (read from /proc/PID/net/{tcp,udp}: no fork per poll).
wait_listening() {
  local n hexport state=0A _sl local_addr st
  printf -v hexport ':%04X' "$3"
  if [[ $2 == udp ]]; then state=07; fi
  for (( n = 0; n < 100; n++ )); do
    { while read -r _sl local_addr _ st _; do
        if [[ $local_addr == *"$hexport" && $st == "$state" ]]; then return 0; fi
      done <"/proc/$1/net/$2"; } 2>/dev/null || true
    sleep 0.05
  done
  return 1
}

# traffic_tally PROTO OUT RC COUNT: one client's outcome from its output file OUT and exit
# code RC, in lab_traffic's variables: got (messages answered), result (ok or FAILED with
# the client's last words), and the totals sent_total, recv_total and failed.
traffic_tally() {
  local proto=$1 out=$2 rc=$3 count=$4
  if [[ $proto == icmp ]]; then
    got=$(sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' "$out" | head -n1)
  else
    got=$(grep -c "^podpath-lab $proto " "$out" || true)
  fi
  got=${got:-0}
  sent_total=$(( sent_total + count )) recv_total=$(( recv_total + got ))
  result=ok
  if (( got != count )); then
    result="FAILED (exit $rc: $(grep -v '^podpath-lab' "$out" | tail -n 2 | tr '\n' ' ' | cut -c1-80))"
    failed=$(( failed + 1 ))
  fi
}

# lab_traffic DURATION: 'scripts/lab traffic' on the selected lab (which must be up).
lab_traffic() {
  local duration=$1 kind rest
  local -a ctrs=() srvs=() flows=() svcs=()
  while IFS=$'\t' read -r kind rest; do
    case $kind in
      ctr) ctrs+=("$rest") ;;
      srv) srvs+=("$rest") ;;
      flow) flows+=("$rest") ;;
      svc) svcs+=("$rest") ;;
    esac
  done < <(traffic_plan)
  (( ${#flows[@]} )) || die "traffic needs at least two pods (this lab has $(jq '.pods | length' "$(inventory_file)"))"
  local pairs=$(( ${#flows[@]} / ${#TRAFFIC_PROTOS[@]} ))

  # Every container must be running.
  local row pod cname pid cid
  for row in "${ctrs[@]}"; do
    IFS=$'\t' read -r pod cname pid cid <<<"$row"
    container_alive "$pid" "$cid" || die "container $cname of pod $pod is not running"
  done

  TRAFFIC_DIR=$LAB_DIR/traffic.$$
  mkdir -p "$TRAFFIC_DIR"
  trap traffic_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP

  local count=$(( duration * 2 ))
  say "traffic for ${duration} s: $pairs pod pair(s) x {ping, TCP :$TRAFFIC_TCP_PORT, UDP :$TRAFFIC_UDP_PORT}, $count messages each"
  if (( ${#svcs[@]} )); then
    say "and ${#svcs[@]} Service(s) with endpoints: $count connections each, one message per connection (kube-proxy picks a backend per connection)"
  fi

  # Echo servers in each destination pod's first container (they stop by themselves after
  # the duration plus a margin, should this script be killed).
  local dst cg
  for row in "${srvs[@]}"; do
    IFS=$'\t' read -r dst pod cg pid <<<"$row"
    # shellcheck disable=SC2016
    container_run "$cg" "$pid" timeout "$(( duration + 20 ))" sh -c '
      socat -T 10 TCP-LISTEN:"$1",reuseaddr,fork PIPE &
      socat -T 10 UDP-RECVFROM:"$2",reuseaddr,fork PIPE &
      wait' lab-echo "$TRAFFIC_TCP_PORT" "$TRAFFIC_UDP_PORT" >"$TRAFFIC_DIR/server-$dst.log" 2>&1 &
    TRAFFIC_PIDS+=("$!")
  done
  for row in "${srvs[@]}"; do
    IFS=$'\t' read -r dst pod cg pid <<<"$row"
    if ! wait_listening "$pid" tcp "$TRAFFIC_TCP_PORT" || ! wait_listening "$pid" udp "$TRAFFIC_UDP_PORT"; then
      die "echo servers did not start in pod $pod: $(tr '\n' ' ' <"$TRAFFIC_DIR/server-$dst.log")"
    fi
  done

  # Clients, all at once: flow i writes flow-i.out.
  local -a client=()
  local i path proto from from_ip to to_ip out
  # shellcheck disable=SC2016
  local stream='i=0; while [ "$i" -lt "$1" ]; do i=$((i + 1)); echo "podpath-lab $2 $i"; sleep 0.5; done'
  for i in "${!flows[@]}"; do
    IFS=$'\t' read -r path proto from from_ip to to_ip cname cg pid <<<"${flows[i]}"
    out=$TRAFFIC_DIR/flow-$i.out
    case $proto in
      icmp) container_run "$cg" "$pid" ping -n -q -c "$count" -i 0.5 -W 2 "$to_ip" >"$out" 2>&1 & ;;
      tcp)  container_run "$cg" "$pid" sh -c "$stream | socat -t 1 - TCP:\"\$3\":\"\$4\",connect-timeout=3" \
              lab-tcp "$count" tcp "$to_ip" "$TRAFFIC_TCP_PORT" >"$out" 2>&1 & ;;
      udp)  container_run "$cg" "$pid" sh -c "$stream | socat -t 1 - UDP:\"\$3\":\"\$4\"" \
              lab-udp "$count" udp "$to_ip" "$TRAFFIC_UDP_PORT" >"$out" 2>&1 & ;;
    esac
    client[i]=$!
    TRAFFIC_PIDS+=("$!")
  done
  # Service clients: a new connection (a new source port) per message, so kube-proxy's
  # random choice spreads them over the backends. Flow i for i >= ${#flows[@]}.
  local svc vip vport j
  # shellcheck disable=SC2016
  local conns='i=0; while [ "$i" -lt "$1" ]; do i=$((i + 1))
    echo "podpath-lab $2 $i" | socat -t 1 - "$3:$4:$5$6"; sleep 0.5; done'
  for j in "${!svcs[@]}"; do
    IFS=$'\t' read -r proto from from_ip svc vip vport cname cg pid <<<"${svcs[j]}"
    i=$(( ${#flows[@]} + j ))
    out=$TRAFFIC_DIR/flow-$i.out
    if [[ $proto == tcp ]]; then
      container_run "$cg" "$pid" sh -c "$conns" lab-svc "$count" tcp TCP "$vip" "$vport" ,connect-timeout=3 >"$out" 2>&1 &
    else
      container_run "$cg" "$pid" sh -c "$conns" lab-svc "$count" udp UDP "$vip" "$vport" "" >"$out" 2>&1 &
    fi
    client[i]=$!
    TRAFFIC_PIDS+=("$!")
  done

  local rc got result failed=0 sent_total=0 recv_total=0
  local -a rows=()
  rows+=("$(tsv_line FROM TO PATH PROTO CONTAINER SENT ANSWERED RESULT)")
  for i in "${!flows[@]}"; do
    rc=0
    wait "${client[i]}" || rc=$?
    IFS=$'\t' read -r path proto from from_ip to to_ip cname cg pid <<<"${flows[i]}"
    traffic_tally "$proto" "$TRAFFIC_DIR/flow-$i.out" "$rc" "$count"
    rows+=("$(tsv_line "$from $from_ip" "$to $to_ip" "$path" "$proto" "$cname" "$count" "$got" "$result")")
  done
  for j in "${!svcs[@]}"; do
    i=$(( ${#flows[@]} + j ))
    rc=0
    wait "${client[i]}" || rc=$?
    IFS=$'\t' read -r proto from from_ip svc vip vport cname cg pid <<<"${svcs[j]}"
    traffic_tally "$proto" "$TRAFFIC_DIR/flow-$i.out" "$rc" "$count"
    rows+=("$(tsv_line "$from $from_ip" "service $svc $vip:$vport" service "$proto" "$cname" "$count" "$got" "$result")")
  done
  printf '%s\n' "${rows[@]}" | print_table
  local total=$(( ${#flows[@]} + ${#svcs[@]} ))
  if (( failed )); then
    die "traffic: $failed of $total flow(s) failed ($recv_total of $sent_total messages answered)"
  fi
  say "traffic: $total flow(s): $pairs pod pair(s)$( (( ${#svcs[@]} )) && printf ' and %s Service(s)' "${#svcs[@]}"), all $sent_total messages answered"
}
