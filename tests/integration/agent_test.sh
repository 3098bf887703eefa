#!/usr/bin/env bash
# Integration test of `podpath agent` on the lab: an agent inside node1's network namespace,
# reached over its unix socket from the root namespace and over HTTPS from the gateway's.
#   - the security rules: a non-loopback bind without TLS is refused; mutual TLS rejects a
#     client without a certificate; a wrong bearer token gets 401; SIGHUP reloads both
#   - the API's JSON matches `podpath trace --output json` for the same node and traffic
#   - the stream: a new pod's flow within 1 s, 16 streams and the 17th gets 503, a stalled
#     reader is dropped and does not delay the others
#   - malformed requests get 400 (over-long path, bad query values, a body on GET), and 200
#     idle connections at once leave /healthz answering
#   - /metrics passes `promtool check metrics`
#   - the minimal capabilities (capsh): the agent runs with CAP_BPF, CAP_NET_ADMIN and
#     CAP_PERFMON only, and keeps less once attached
#   - kill -9 and restart (classic TC filters replaced, the stale unix socket replaced)
#   - scripts/lab agents start|status|stop
#
#   tests/integration/agent_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/integration/agent_lib.sh
source "$ROOT/tests/integration/agent_lib.sh"
# shellcheck source=scripts/lib/lab_pki.sh
source "$ROOT/scripts/lib/lab_pki.sh"
require_root_and_tools bpftool curl openssl python3 capsh promtool
register_cleanup

L="ag"
lab_up "$L"
N1=$L-node1
GW=$L-gw
A_NAME=$(pod_field $L node1 0 name)   # node1 pod
A_IP=$(pod_field $L node1 0 ip)
B_IP=$(pod_field $L node1 1 ip)       # second node1 pod
C_IP=$(pod_field $L node2 0 ip)       # node2 pod
N1_IP=10.0.0.2
echo "pods: $A_NAME $A_IP, $B_IP (node1), $C_IP (node2)"
ping_from() {  # ping_from POD DST COUNT
  "$LAB" exec --name $L "$1" -- ping -q -c "$3" -i 0.05 -W 1 "$2" >/dev/null
}

phase "the lab's certificates: a CA, node1's server certificate, a client certificate, a token"
PKI=$TMP/pki
pki_ca "$PKI"
pki_cert "$PKI" agent-node1 serverAuth "IP:$N1_IP" DNS:node1
pki_cert "$PKI" client clientAuth
pki_token "$PKI/token"
TOKEN=$(cat "$PKI/token")

phase "a non-loopback bind without TLS is refused, in one sentence naming the flags"
rc=0
in_ns "$N1" "$PODPATH" agent --lab $L --listen "$N1_IP:9443" >"$TMP/refused.out" 2>&1 || rc=$?
check_eq "refused with exit code 2" 2 "$rc"
check "the sentence names the address and every flag" grep -q \
  "refusing to serve the API on $N1_IP:9443, which is not a loopback address, without TLS (--tls-cert and --tls-key) and client authentication (--tls-client-ca or --token-file)" \
  "$TMP/refused.out"
rc=0
in_ns "$N1" "$PODPATH" agent --lab $L --listen "$N1_IP:9443" --token-file "$PKI/token" >"$TMP/refused2.out" 2>&1 || rc=$?
check_eq "a token without TLS is refused too" 2 "$rc"

phase "agent on node1: HTTPS with mutual TLS and a token, a unix socket, /metrics"
SOCK=$TMP/node1.sock
start_agent $L node1 "$TMP/agent.out" --interval 0.5 --listen "$N1_IP:9443" --listen "unix:$SOCK" \
  --metrics-listen "$N1_IP:9091" --tls-cert "$PKI/agent-node1.crt" --tls-key "$PKI/agent-node1.key" \
  --tls-client-ca "$PKI/ca.crt" --token-file "$PKI/token"
AGENT=$LAST_PID
check_eq "the socket has mode 0600" 600 "$(stat -c %a "$SOCK")"
check_eq "/readyz answers ready" "ready" "$(api "$SOCK" /readyz)"
node_json=$(api "$SOCK" /v1/node)
check_eq "/v1/node names the node" node1 "$(jq -r .node <<<"$node_json")"
check_eq "/v1/node: pod CIDR" 10.10.129.0/24 "$(jq -r .pod_cidr <<<"$node_json")"
check "/v1/node: the routing table with the default route via the gateway" \
  jq -e '.routes[] | select(.destination == "0.0.0.0/0" and .gateway == "10.0.0.1")' <<<"$node_json"
check "/v1/node: cbr0 and eth0 attached with their roles" jq -e \
  '([.interfaces[] | select(.attached and ((.name == "cbr0" and .role == "bridge") or (.name == "eth0" and .role == "uplink")))] | length) == 2' \
  <<<"$node_json"
# jq computes in doubles: at 1.8e18 ns one step is 256 ns, so allow a microsecond.
check "/v1/node: the clock offset is real time minus monotonic" jq -e \
  '(.clock.offset_ns - (.clock.realtime_ns - .clock.monotonic_ns) | fabs) < 1000 and .clock.offset_ns > 0' <<<"$node_json"
check "/v1/node: health counters and version" jq -e '.health.packets >= 0 and (.version | length) > 0' <<<"$node_json"

https() {  # https ARGS... URL_PATH: curl from the gateway's namespace, prints the HTTP status
  local path=${*: -1}
  in_ns "$GW" curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" "${@:1:$#-1}" \
    "https://$N1_IP:9443$path"
}
rc=0
in_ns "$GW" curl -s -o /dev/null --max-time 10 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $TOKEN" \
  "https://$N1_IP:9443/v1/node" || rc=$?
check "mutual TLS: a client without a certificate is rejected in the handshake (curl exit $rc)" test "$rc" -ne 0
check_eq "with a client certificate and the token: 200" 200 \
  "$(https --cert "$PKI/client.crt" --key "$PKI/client.key" -H "Authorization: Bearer $TOKEN" /v1/node)"
check_eq "a wrong token: 401" 401 \
  "$(https --cert "$PKI/client.crt" --key "$PKI/client.key" -H "Authorization: Bearer wrong" /v1/node)"
check_eq "no token: 401" 401 "$(https --cert "$PKI/client.crt" --key "$PKI/client.key" /v1/node)"
check_eq "plain HTTP to the TLS port fails" 000 \
  "$(in_ns "$GW" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$N1_IP:9443/healthz" || true)"

phase "SIGHUP reloads the token and the certificate"
printf 'rotated-token\n' >"$PKI/token"
mv "$PKI/agent-node1.crt" "$PKI/agent-node1.old.crt"
mv "$PKI/agent-node1.key" "$PKI/agent-node1.old.key"
pki_cert "$PKI" agent-node1 serverAuth "IP:$N1_IP" DNS:node1 DNS:node1-rotated
kill -HUP "$AGENT"
reloaded=""
for _ in $(seq 50); do
  if [[ $(https --cert "$PKI/client.crt" --key "$PKI/client.key" -H "Authorization: Bearer rotated-token" /v1/node) == 200 ]]; then
    reloaded=1
    break
  fi
  sleep 0.1
done
check "after SIGHUP the new token is accepted" test -n "$reloaded"
check_eq "and the old one refused" 401 \
  "$(https --cert "$PKI/client.crt" --key "$PKI/client.key" -H "Authorization: Bearer $TOKEN" /v1/node)"
served=$(in_ns "$GW" openssl s_client -connect "$N1_IP:9443" -CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" \
  -key "$PKI/client.key" </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName 2>/dev/null || true)
check "the new certificate is served" grep -q node1-rotated <<<"$served"
check "the agent is still running" kill -0 "$AGENT"

phase "the API's JSON matches trace --output json: 20 pings node1 -> node2, 10 within node1"
OUT=$TMP/trace.ndjson
start_podpath "$OUT" trace --lab $L --output json --interval 0.5 --no-containers
TRACE=$LAST_PID
ping_from "$A_NAME" "$C_IP" 20
ping_from "$A_NAME" "$B_IP" 10
conv_agent() {  # SRC DST: the ICMP conversation in the agent's /v1/flows
  api "$SOCK" "/v1/flows?proto=icmp&limit=0" |
    jq -c --arg s "$1" --arg d "$2" '.flows[] | select(.forward.src == $s and .forward.dst == $d)'
}
settled=""
for _ in $(seq 50); do
  a=$(conv_agent "$A_IP" "$C_IP")
  if [[ -n $a && $(jq '.reverse.packets' <<<"$a") == 20 ]] && [[ $(conv_agent "$A_IP" "$B_IP" | jq '.reverse.packets') == 10 ]]; then
    settled=1
    break
  fi
  sleep 0.2
done
check "the agent counted 20 requests and 20 replies" test -n "$settled"
sleep 1.2   # two trace refreshes at --interval 0.5, so its last snapshot holds every reply
stop_podpath $TRACE TERM
last=$(tail -n 1 "$OUT")
conv_trace() { jq -c --arg s "$1" --arg d "$2" '.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d)' <<<"$last"; }
# What must agree: both ends, the protocol and ports, each direction's counts and container, and
# each of node1's hops with its route, note, state and counts (rates and times are samples).
same_fields='{src, dst, proto, proto_number, sport, dport, fragment,
  forward: (.forward | {src, dst, container, packets, bytes, tcp_flags,
                        hops: [.hops[] | select(.node == "node1") | {node, interface, ifindex, direction, role, state, observed, packets, bytes, route, note}]}),
  reverse: (.reverse | {src, dst, container, packets, bytes, tcp_flags,
                        hops: [.hops[] | select(.node == "node1") | {node, interface, ifindex, direction, role, state, observed, packets, bytes, route, note}]})}'
for pair in "$A_IP $C_IP" "$A_IP $B_IP"; do
  read -r s d <<<"$pair"
  from_agent=$(conv_agent "$s" "$d" | jq -S "$same_fields")
  from_trace=$(conv_trace "$s" "$d" | jq -S "$same_fields")
  if [[ -n $from_agent && $from_agent == "$from_trace" ]]; then
    pass "$s -> $d: the agent's conversation equals trace's, node1's hops included"
  else
    fail "$s -> $d: agent and trace differ"
    diff <(echo "$from_agent") <(echo "$from_trace") || true
  fi
done
same_node_agent=$(conv_agent "$A_IP" "$B_IP")
check_eq "same node: the verdict is trace's" "$(conv_trace "$A_IP" "$B_IP" | jq -r .forward.verdict)" \
  "$(jq -r .forward.verdict <<<"$same_node_agent")"
check_eq "cross node: node1's three hops each way" "3 3" \
  "$(conv_agent "$A_IP" "$C_IP" | jq -r '"\(.forward.hops | length) \(.reverse.hops | length)"')"
check_eq "filters: ?pod= selects the conversation" 1 \
  "$(api "$SOCK" "/v1/flows?pod=$A_NAME&cidr=$C_IP/32&proto=icmp" | jq '.total')"
check "every hop carries ifindex and first/last seen" jq -e \
  '[.forward.hops[] | select(.ifindex != null and .first_seen_ns > 0 and .last_seen_ns >= .first_seen_ns)] | length == 3' \
  <<<"$(conv_agent "$A_IP" "$C_IP")"

phase "/metrics: promtool check metrics, bounded labels"
in_ns "$N1" curl -fsS --max-time 10 "http://$N1_IP:9091/metrics" >"$TMP/metrics.txt"
grep '^podpath_cidr_pair_packets_total' "$TMP/metrics.txt" || true
check "promtool check metrics passes" promtool check metrics <"$TMP/metrics.txt"
check "the CIDR pair node1 pods -> node2 pods counted the 20 requests" grep -q \
  'podpath_cidr_pair_packets_total{node="node1",dst_cidr="10.10.130.0/24",src_cidr="10.10.129.0/24"} 20' "$TMP/metrics.txt"
check "no remote pod address in any label" bash -c "! grep -q '$C_IP' '$TMP/metrics.txt'"
check_eq "the metrics port serves no flow detail" 404 \
  "$(in_ns "$N1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$N1_IP:9091/v1/flows")"

phase "the stream: a new pod's flow arrives within 1 s"
STREAM=$TMP/stream.sse
curl -sN --unix-socket "$SOCK" http://agent/v1/flows/stream >"$STREAM" &
STREAM_PID=$!
PODPATH_PIDS+=("$STREAM_PID")
for _ in $(seq 50); do grep -q '^event: snapshot' "$STREAM" && break; sleep 0.1; done
check "the stream starts with a snapshot" grep -q '^event: snapshot' "$STREAM"
new=$("$LAB" add-pod --name $L --node 1 --pod default/late-0 | tail -n 1)
NEW_IP=${new##* }
echo "new pod: $new"
t0=$(date +%s%N)
"$LAB" exec --name $L default/late-0 -- ping -q -c 3 -i 0.2 -W 1 "$A_IP" >/dev/null &
seen=""
for _ in $(seq 300); do
  if grep -q "\"src\":\"$NEW_IP\"" "$STREAM"; then seen=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
  sleep 0.01
done
wait $! || true
echo "the new pod's flow arrived ${seen:-never} ms after its ping started"
check "the new pod's flow was streamed within 1 s (${seen:-never} ms)" test -n "$seen" -a "${seen:-9999}" -lt 1000
check "with the new pod's name" grep -q '"pod":"late-0"' "$STREAM"
kill "$STREAM_PID" 2>/dev/null || true
wait "$STREAM_PID" 2>/dev/null || true
# A stream learns that its client went when it next writes: an event, or the heartbeat
# (15 s) when nothing changes, so a slot may stay taken that long.
streams_closed() {  # until the agent has seen every stream go (its slot is free again)
  local _
  for _ in $(seq 200); do
    [[ $(api "$SOCK" /v1/node | jq .streams.active) == 0 ]] && return 0
    sleep 0.1
  done
  return 1
}
check "the stream's slot is free once its client went" streams_closed

phase "16 streams at once, the 17th gets 503"
pids=()
for i in $(seq 16); do
  curl -sN --unix-socket "$SOCK" http://agent/v1/flows/stream >"$TMP/s$i.sse" &
  pids+=("$!")
done
PODPATH_PIDS+=("${pids[@]}")
open=0
for _ in $(seq 100); do
  open=0
  for i in $(seq 16); do grep -q '^event: snapshot' "$TMP/s$i.sse" && open=$((open + 1)); done
  (( open == 16 )) && break
  sleep 0.1
done
check_eq "16 streams got their snapshot" 16 "$open"
check_eq "the 17th: 503" 503 "$(status_of "$SOCK" /v1/flows/stream)"
check_eq "other requests are still served meanwhile" 200 "$(status_of "$SOCK" /v1/node)"
kill "${pids[@]}" 2>/dev/null || true
check "closed streams give their slots back" streams_closed

# A stream whose filter selects nothing gets no events: a heartbeat after 15 s (read at the
# end of the next phases, which take longer than that).
curl -sN --max-time 60 --unix-socket "$SOCK" "http://agent/v1/flows/stream?pod=no-such-pod" >"$TMP/quiet.sse" &
QUIET=$!
PODPATH_PIDS+=("$QUIET")

phase "a stalled reader is dropped and does not delay the others (300 UDP flows, refresh 0.5 s)"
"$LAB" exec --name $L "$A_NAME" -- python3 -c '
import socket, sys, time
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(300)]
end = time.time() + float(sys.argv[2])
while time.time() < end:
    for s in socks:
        s.sendto(b"x" * 32, (sys.argv[1], 9))
    time.sleep(0.2)
' "$C_IP" 14 &
FLOOD=$!
python3 - "$SOCK" 12 >"$TMP/stalled.txt" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/flows/stream HTTP/1.1\r\nHost: agent\r\n\r\n")
time.sleep(float(sys.argv[2]))   # reads nothing meanwhile
s.settimeout(10)
try:
    while s.recv(1 << 20):
        pass
    print("closed")
except socket.timeout:
    print("still open")
PY
STALLED=$!
python3 - "$SOCK" 12 >"$TMP/healthy.txt" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/flows/stream HTTP/1.1\r\nHost: agent\r\n\r\n")
end = time.time() + float(sys.argv[2])
s.settimeout(1)
buf = b""
while time.time() < end:
    try:
        d = s.recv(1 << 20)
    except socket.timeout:
        continue
    if not d:
        break
    buf += d
    while b"\nevent: update\n" in buf:
        buf = buf.split(b"\nevent: update\n", 1)[1]
        print(f"{time.time():.3f}")
PY
HEALTHY=$!
wait "$HEALTHY" || true
wait "$STALLED" || true
wait "$FLOOD" || true
check_eq "the stalled reader was dropped (its connection closed)" closed "$(cat "$TMP/stalled.txt")"
events=$(wc -l <"$TMP/healthy.txt")
gap=$(awk 'NR > 1 { g = $1 - p; if (g > m) m = g } { p = $1 } END { printf "%.2f", m }' "$TMP/healthy.txt")
echo "the healthy reader got $events updates in 12 s, the longest wait between two: $gap s"
check "the healthy reader kept getting updates ($events)" test "$events" -ge 10
check "never waiting as long as the write timeout (5 s) a stalled reader could cost it ($gap s)" \
  awk -v g="$gap" 'BEGIN { exit !(g < 2.5) }'
check "the agent counts the dropped stream" jq -e '.streams.dropped >= 1' <<<"$(api "$SOCK" /v1/node)"

phase "malformed requests get 400; 200 idle connections leave /healthz answering"
long=$(head -c 4000 /dev/zero | tr '\0' a)
check_eq "an over-long path: 400" 400 "$(status_of "$SOCK" "/v1/$long")"
check_eq "a request line over cpp-httplib's 8 KiB: 400" 400 "$(status_of "$SOCK" "/v1/flows?pod=$(head -c 9000 /dev/zero | tr '\0' a)")"
check_eq "limit=abc: 400" 400 "$(status_of "$SOCK" "/v1/flows?limit=abc")"
check_eq "a bad percent-escape: 400" 400 "$(status_of "$SOCK" "/v1/flows?pod=%zz")"
check_eq "an unknown parameter: 400" 400 "$(status_of "$SOCK" "/v1/flows?colour=red")"
check_eq "port=70000: 400" 400 "$(status_of "$SOCK" "/v1/flows?port=70000")"
check_eq "a parameter on /v1/node: 400" 400 "$(status_of "$SOCK" "/v1/node?x=1")"
check "the 400 says why" grep -q "'limit' must be a number" <<<"$(curl -s --unix-socket "$SOCK" "http://agent/v1/flows?limit=abc")"
body_answer=$(raw_request "$SOCK" 'GET /v1/flows HTTP/1.1\r\nHost: agent\r\nContent-Length: 5\r\n\r\nhelloGET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n')
check "a body on GET: 400" grep -q '^HTTP/1.1 400' <<<"$body_answer"
check "and the connection is closed (the body is not read as a request)" test "$(grep -c '^HTTP/1.1' <<<"$body_answer")" -eq 1
check_eq "POST: 405 (the API never writes)" 405 "$(status_of "$SOCK" /v1/flows -X POST)"
check_eq "an unknown endpoint: 404" 404 "$(status_of "$SOCK" /v1/nothing)"
python3 - "$SOCK" 200 >"$TMP/idle.txt" <<'PY' &
import socket, sys, time
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        pass
    conns.append(s)
print(len(conns), flush=True)
time.sleep(8)
PY
IDLE=$!
for _ in $(seq 50); do [[ -s $TMP/idle.txt ]] && break; sleep 0.1; done
t0=$(date +%s%N)
hz=$(curl -s --max-time 15 --unix-socket "$SOCK" http://agent/healthz || true)
echo "/healthz answered in $(( ($(date +%s%N) - t0) / 1000000 )) ms with 200 idle connections open"
check_eq "200 idle connections open: /healthz still answers" ok "$hz"
wait "$IDLE" || true
check_eq "and afterwards" ok "$(api "$SOCK" /healthz)"
check "the agent survived all of it" kill -0 "$AGENT"
heartbeat() {  # until the quiet stream got its heartbeat (15 s after it started)
  local _
  for _ in $(seq 100); do
    grep -q '^: heartbeat' "$TMP/quiet.sse" && return 0
    sleep 0.1
  done
  return 1
}
check "a stream with nothing to send gets a heartbeat every 15 s" heartbeat
check "and no update" bash -c "! grep -q '^event: update' '$TMP/quiet.sse'"
kill "$QUIET" 2>/dev/null || true

phase "the Kubernetes API as the source (--kubeconfig, as a DaemonSet's agent would)"
KAGENT_SOCK=$TMP/kube.sock
PODPATH_PREFIX=(nsenter --net="/run/netns/$N1" --)
start_podpath "$TMP/kube-agent.out" agent --kubeconfig "$("$LAB" kubeconfig --name $L --in-cluster)" --node node1 \
  --listen "unix:$KAGENT_SOCK" --interval 0.5 --tc-priority 9
PODPATH_PREFIX=()
KAGENT=$LAST_PID
kube_node=$(api "$KAGENT_SOCK" /v1/node)
check_eq "it watches node1" node1 "$(jq -r .node <<<"$kube_node")"
check "its names come from the Kubernetes API" jq -e '.inventory | test("Kubernetes API")' <<<"$kube_node"
ping_from "$A_NAME" "$C_IP" 3
named=""
for _ in $(seq 50); do
  c=$(api "$KAGENT_SOCK" "/v1/flows?proto=icmp" | jq -c --arg s "$A_IP" --arg d "$C_IP" '.flows[] | select(.forward.src == $s and .forward.dst == $d)')
  if [[ -n $c ]] && [[ $(jq -r .src.pod <<<"$c") == "$A_NAME" || $(jq -r '.src.namespace + "/" + .src.pod' <<<"$c") == "$A_NAME" ]]; then named=1; break; fi
  sleep 0.2
done
check "a flow named by the API's pods" test -n "$named"
stop_podpath "$KAGENT" TERM
check_eq "SIGTERM: exit 0" 0 "$STOP_RC"
stop_podpath "$AGENT" TERM
check_eq "SIGTERM: exit 0" 0 "$STOP_RC"
check "the socket file is removed" test ! -e "$SOCK"
check "no podpath program left" no_podpath_programs_left

phase "the minimal capabilities: CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON only (capsh)"
keep="cap_net_admin,cap_perfmon,cap_bpf"   # capsh --decode's order: by number
drop=$(capsh --print | sed -n 's/^Bounding set =//p' | tr ',' '\n' | grep -vxE 'cap_(bpf|net_admin|perfmon)' | paste -sd, -)
# shellcheck disable=SC2016  # "$0" "$@" are capsh's shell's: the agent and its arguments
start_agent_with capsh --drop="$drop" -- -c 'exec "$0" "$@"' @ $L node1 "$TMP/caps.out" \
  --listen "unix:$SOCK" --interval 0.5
CAPS=$LAST_PID
check_eq "it started with exactly $keep" "$keep" "$(capsh --decode="$(awk '/^CapBnd/ { print $2 }' "/proc/$CAPS/status")" | sed 's/.*=//')"
ping_from "$A_NAME" "$C_IP" 5
counted=""
for _ in $(seq 50); do
  [[ $(conv_agent "$A_IP" "$C_IP" | jq .forward.packets) == 5 ]] && { counted=1; break; }
  sleep 0.2
done
check "flows are counted" test -n "$counted"
check "drops are tracked (CAP_PERFMON was enough)" jq -e '.drops.mode | test("reasons")' <<<"$(api "$SOCK" /v1/node)"
main_caps=$(capsh --decode="$(awk '/^CapEff/ { print $2 }' "/proc/$CAPS/status")" | sed 's/.*=//')
echo "the main thread keeps: $main_caps"
check_eq "attached, the main thread dropped CAP_PERFMON" "cap_net_admin,cap_bpf" "$main_caps"
others=0
for t in /proc/"$CAPS"/task/*; do
  [[ $(basename "$t") == "$CAPS" ]] && continue
  eff=$(awk '/^CapEff/ { print $2 }' "$t/status")
  if [[ $eff != 0000000000000000 ]]; then others=$((others + 1)); fi
done
check_eq "no serving thread holds any capability" 0 "$others"
"$LAB" add-pod --name $L --node 1 --pod default/late-1 >/dev/null
"$LAB" exec --name $L default/late-1 -- ping -q -c 4 -i 0.05 -W 1 "$A_IP" >/dev/null
late_ip=$(jq -r '.pods[] | select(.name == "late-1") | .ip' "$(inventory_of $L)")
late=""
for _ in $(seq 50); do
  c=$(conv_agent "$late_ip" "$A_IP")
  if [[ -n $c ]] && jq -e '[.forward.hops[] | select(.role == "pod_veth" and .observed)] | length == 2' <<<"$c" >/dev/null; then late=1; break; fi
  sleep 0.2
done
check "with what it kept, a pod started later is attached and counted" test -n "$late"
stop_podpath "$CAPS" TERM
check_eq "SIGTERM: exit 0 (and detached)" 0 "$STOP_RC"

phase "kill -9 and restart (classic TC): the filters and the socket of the dead agent are replaced"
start_agent $L node1 "$TMP/k1.out" --listen "unix:$SOCK" --attach clsact --interval 0.5
K1=$LAST_PID
check_eq "one podpath filter per hook on node1 eth0" 2 "$(podpath_filters $N1 eth0)"
kill -KILL "$K1"
wait "$K1" 2>/dev/null || true
check_eq "after kill -9 its filters remain" 2 "$(podpath_filters $N1 eth0)"
check "and its socket file" test -S "$SOCK"
start_agent $L node1 "$TMP/k2.out" --listen "unix:$SOCK" --attach clsact --interval 0.5
K2=$LAST_PID
check_eq "restart: exactly one podpath filter per hook on eth0" 2 "$(podpath_filters $N1 eth0)"
check "the stale socket was replaced" grep -q "replaced the stale socket" "$TMP/k2.out.err"
ping_from "$A_NAME" "$C_IP" 7
counted=""
for _ in $(seq 50); do
  [[ $(conv_agent "$A_IP" "$C_IP" | jq .forward.packets) == 7 ]] && { counted=1; break; }
  sleep 0.2
done
check "the restarted agent counts" test -n "$counted"
rc=0
in_ns "$N1" "$PODPATH" agent --lab $L --listen "unix:$SOCK" --attach clsact --tc-priority 7 >"$TMP/second.out" 2>&1 || rc=$?
check_eq "a second agent on the same socket is refused" 2 "$rc"
check "and says why" grep -q "another process listens there" "$TMP/second.out"
stop_podpath "$K2" TERM
check_eq "SIGTERM: exit 0" 0 "$STOP_RC"
check_eq "no podpath filter left on eth0" 0 "$(podpath_filters $N1 eth0)"

phase "scripts/lab agents start|status|stop"
"$LAB" agents --name $L start -- --interval 0.5 >"$TMP/agents.out" 2>&1 || { cat "$TMP/agents.out"; fail "agents start"; }
check "status: every agent ready" "$LAB" agents --name $L status
for n in node1 node2; do
  check_eq "$n's agent answers on its unix socket" "$n" \
    "$(api "/run/podpath-lab/$L/agents/$n.sock" /v1/node | jq -r .node)"
done
LTOKEN=$(cat "/run/podpath-lab/$L/pki/agent-token")
lab_https() {  # NODE_IP TOKEN: the status of /v1/flows from the gateway's namespace
  in_ns "$GW" curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "/run/podpath-lab/$L/pki/ca.crt" \
    -H "Authorization: Bearer $2" "https://$1:9990/v1/flows"
}
check_eq "node2's agent over HTTPS with the lab's token: 200" 200 "$(lab_https 10.0.0.3 "$LTOKEN")"
check_eq "with a wrong token: 401" 401 "$(lab_https 10.0.0.3 wrong)"
check_eq "node1's /metrics from the gateway's namespace" 200 \
  "$(in_ns "$GW" curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://10.0.0.2:9991/metrics)"
"$LAB" agents --name $L stop >/dev/null
rc=0
"$LAB" agents --name $L status >/dev/null 2>&1 || rc=$?
check_eq "stopped: status exits 1" 1 "$rc"
no_lab_agent() { ! pgrep -f "agent --lab $L --node" >/dev/null; }
check "no agent of the lab left" no_lab_agent

finish agent_test
