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
# Pairs: per node (in order), its first pod to its second pod (same-node) and its first pod
# to the last pod of the next node (cross-node). The source pod's containers take turns:
# ping in the first, TCP in the second, UDP in the third, wrapping around.
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
            ($pair.dst.value | full), $pair.dst.value.ip, $c.name, $c.cgroup, ($c.pid | tostring) ] )
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

# lab_traffic DURATION: 'scripts/lab traffic' on the selected lab (which must be up).
lab_traffic() {
  local duration=$1 kind rest
  local -a ctrs=() srvs=() flows=()
  while IFS=$'\t' read -r kind rest; do
    case $kind in
      ctr) ctrs+=("$rest") ;;
      srv) srvs+=("$rest") ;;
      flow) flows+=("$rest") ;;
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

  local rc got result failed=0 sent_total=0 recv_total=0
  local -a rows=()
  rows+=("$(tsv_line FROM TO PATH PROTO CONTAINER SENT ANSWERED RESULT)")
  for i in "${!flows[@]}"; do
    rc=0
    wait "${client[i]}" || rc=$?
    IFS=$'\t' read -r path proto from from_ip to to_ip cname cg pid <<<"${flows[i]}"
    out=$TRAFFIC_DIR/flow-$i.out
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
    rows+=("$(tsv_line "$from $from_ip" "$to $to_ip" "$path" "$proto" "$cname" "$count" "$got" "$result")")
  done
  printf '%s\n' "${rows[@]}" | print_table
  if (( failed )); then
    die "traffic: $failed of ${#flows[@]} flow(s) failed ($recv_total of $sent_total messages answered)"
  fi
  say "traffic: ${#flows[@]} flow(s) between $pairs pod pair(s), all $sent_total messages answered"
}
