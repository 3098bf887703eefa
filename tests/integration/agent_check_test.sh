#!/usr/bin/env bash
# POST /v1/check on the lab's agents (scripts/lab agents start: one per node, HTTPS with the
# lab's CA and bearer token on each node's address, a unix socket for root):
#   - from the gateway's namespace (a client inside the cluster network), with the token: a
#     check from a node1 pod to a node2 pod answers 200 with node1's observations (the probes
#     answered, the conversation's node1 hops, no drop);
#   - without the token: 401; a GET: 405; bad fields: 400 naming the field; a source pod on
#     another node: 400; a burst: 429 with Retry-After;
#   - after `scripts/lab break firewall node2`: the check from node1 times out, node1 saw the
#     request leave by eth0, and node2's agent reports the drop (NETFILTER_DROP) of exactly
#     the probes' flows (the flow ids node1's answer names).
#
#   tests/integration/agent_check_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
# shellcheck disable=SC2016  # jq programs and a bash -c script: their $variables are their own
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/integration/agent_lib.sh
source "$ROOT/tests/integration/agent_lib.sh"
require_root_and_tools curl openssl python3
register_cleanup

L="ck"
lab_up "$L"
GW=$L-gw
A_NAME=$(pod_field $L node1 0 name) # node1 pod
A_IP=$(pod_field $L node1 0 ip)
C_NAME=$(pod_field $L node2 0 name) # node2 pod
C_IP=$(pod_field $L node2 0 ip)
PKI=/run/podpath-lab/$L/pki
SOCK1=/run/podpath-lab/$L/agents/node1.sock
SOCK2=/run/podpath-lab/$L/agents/node2.sock
echo "pods: $A_NAME $A_IP (node1), $C_NAME $C_IP (node2)"

phase "one agent per node (scripts/lab agents start)"
PODPATH_BIN=$PODPATH "$LAB" agents --name $L start >"$TMP/agents.out" 2>&1 || { cat "$TMP/agents.out"; exit 1; }
TOKEN=$(cat "$PKI/agent-token")

# post_check BODY [CURL_ARG...]: POST /v1/check to node1's agent over HTTPS from the gateway's
# namespace; the body goes to $TMP/body, the status (and Retry-After) to stdout.
post_check() {
  local body=$1
  shift
  in_ns "$GW" curl -s --max-time 20 --cacert "$PKI/ca.crt" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' \
    -X POST -H 'Content-Type: application/json' --data "$body" "$@" https://10.0.0.2:9990/v1/check
}
with_token=(-H "Authorization: Bearer $TOKEN")
check_body() { jq -n --arg s "$A_NAME" --arg d "$1" --arg p "$2" --argjson port "${3:-null}" \
  '{source: $s, destination: $d, protocol: $p} + (if $port then {port: $port} else {} end)'; }

phase "a check from a node1 pod to a node2 pod: 200 with node1's observations"
check_eq "POST /v1/check with the token" 200 "$(post_check "$(check_body "$C_IP" icmp)" "${with_token[@]}")"
cp "$TMP/body" "$TMP/ok.json"
jq -c '{node, settled, summary, probes: [.probes[] | {flow, result}], flows: [.flows[].id], drops: (.drops | length)}' "$TMP/ok.json"
check_eq "the answer is node1's" node1 "$(jq -r .node "$TMP/ok.json")"
check_eq "the source is the pod, with its address" "$A_IP" "$(jq -r .source.ip "$TMP/ok.json")"
check_eq "3 probes sent, 3 answered" "3 3" "$(jq -r '"\(.summary.sent) \(.summary.answered)"' "$TMP/ok.json")"
check "each probe names its flow and a round trip" \
  jq -e '[.probes[] | select(.result == "answered" and .rtt_ns > 0 and (.flow | startswith("1/'"$A_IP"'/")))] | length == 3' "$TMP/ok.json"
check "the refresh that counted the probes answered (settled)" jq -e '.settled == true' "$TMP/ok.json"
check "node1's hops of the probes: the pod's veth, cbr0 and eth0 saw them" jq -e \
  '[.flows[] | .forward.hops[] | select(.node == "node1" and .observed)] | map(.role) | (index("pod_veth") != null and index("bridge") != null and index("uplink") != null)' \
  "$TMP/ok.json"
check "every probe's conversation is there" jq -e \
  '([.probes[].flow] | unique) as $ids | [.flows[].id] as $f | all($ids[]; . as $i | $f | index($i) != null)' "$TMP/ok.json"
check_eq "no drop on node1" 0 "$(jq '.drops | length' "$TMP/ok.json")"
check "the clock offset comes along" jq -e '.clock.offset_ns > 0' "$TMP/ok.json"

phase "refusals"
check_eq "no token: 401" 401 "$(post_check "$(check_body "$C_IP" icmp)")"
check_eq "a wrong token: 401" 401 "$(post_check "$(check_body "$C_IP" icmp)" -H 'Authorization: Bearer nope')"
code=$(in_ns "$GW" curl -s --max-time 10 --cacert "$PKI/ca.crt" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' \
  "${with_token[@]}" https://10.0.0.2:9990/v1/check)
check_eq "GET /v1/check: 405" 405 "$code"
check "405 says Allow: POST" grep -qi '^Allow: POST' "$TMP/headers"
bad() { # bad DESCRIPTION BODY MESSAGE-PREFIX
  local code
  code=$(post_check "$2" "${with_token[@]}")
  check_eq "$1: 400" 400 "$code"
  check "$1: the error names the field ($3)" jq -e --arg m "$3" '.error | startswith($m)' "$TMP/body"
}
bad "an unknown field" "{\"source\":\"$A_NAME\",\"destination\":\"$C_IP\",\"protocol\":\"icmp\",\"count\":100}" "count: unknown field"
bad "a name as destination" "$(check_body "$C_NAME" icmp)" "destination: '$C_NAME' is not an IP address"
bad "a protocol podpath does not probe" "$(check_body "$C_IP" sctp)" "protocol: 'sctp' is not one of"
bad "tcp without a port" "$(check_body "$C_IP" tcp)" "port: missing"
bad "a port out of range" "$(check_body "$C_IP" tcp 70000)" "port: expected an integer"
bad "not JSON" "source=$A_NAME" "body: not JSON"
bad "a source on node2" "$(jq -n --arg s "$C_NAME" --arg d "$A_IP" '{source: $s, destination: $d, protocol: "icmp"}')" \
  "source: pod default/$C_NAME runs on node node2"
bad "a loopback destination" "$(check_body 127.0.0.1 icmp)" "destination: cannot check 127.0.0.1"
code=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' --unix-socket "$SOCK1" -X POST \
  -H 'Content-Type: text/plain' --data '{}' http://agent/v1/check)
check_eq "a body that is not application/json: 415" 415 "$code"

phase "a burst: 429 with Retry-After"
# The limiter allows 3 checks at once (one is spent above), then one per 10 s; and one check
# at a time. Four at once over the unix socket (root on the node: authenticated).
for i in 1 2 3 4; do
  curl -s --max-time 20 -o "$TMP/burst$i.json" -D "$TMP/burst$i.headers" -w '%{http_code}\n' --unix-socket "$SOCK1" \
    -X POST -H 'Content-Type: application/json' --data "$(check_body "$C_IP" udp 9)" http://agent/v1/check \
    >"$TMP/burst$i.code" &
done
wait
codes=$(cat "$TMP"/burst*.code | sort | paste -sd' ')
echo "   burst: $codes"
check "at least one of the burst got 429" grep -q 429 <<<"$codes"
check "at least one of the burst was served" grep -q 200 <<<"$codes"
for i in 1 2 3 4; do
  if grep -q 429 "$TMP/burst$i.code"; then
    check "429 carries Retry-After" grep -qiE '^Retry-After: [0-9]+' "$TMP/burst$i.headers"
    check "429 says why" jq -e '.error | test("already running|too many checks")' "$TMP/burst$i.json"
    break
  fi
done

phase "scripts/lab break firewall node2: node2's agent reports the drop"
"$LAB" break --name $L firewall node2 >/dev/null
# The limiter refills one check per 10 s: wait for its Retry-After, at most twice.
for _ in 1 2 3; do
  code=$(curl -s --max-time 30 -o "$TMP/fw.json" -D "$TMP/fw.headers" -w '%{http_code}' --unix-socket "$SOCK1" -X POST \
    -H 'Content-Type: application/json' --data "$(check_body "$C_IP" icmp)" http://agent/v1/check)
  [[ $code == 429 ]] || break
  sleep "$(sed -nE 's/^Retry-After: ([0-9]+).*/\1/ip' "$TMP/fw.headers")"
done
check_eq "the check is served" 200 "$code"
check_eq "no probe is answered" 0 "$(jq .summary.answered "$TMP/fw.json")"
check "node1 saw the request leave by eth0" jq -e \
  '[.flows[] | .forward.hops[] | select(.node == "node1" and .role == "uplink" and .observed)] | length > 0' "$TMP/fw.json"
check_eq "node1 saw no drop (the firewall is node2's)" 0 "$(jq '.drops | length' "$TMP/fw.json")"
jq -r '.probes[].flow' "$TMP/fw.json" | sort -u >"$TMP/fw.ids"
api "$SOCK2" '/v1/drops' >"$TMP/drops2.json"
jq -r '.drops[] | select(.reason == "NETFILTER_DROP") | "\(.flow.proto_number)/\(.flow.src.ip)/\(.flow.sport)/\(.flow.dst.ip)/\(.flow.dport)"' \
  "$TMP/drops2.json" | sort -u >"$TMP/drop2.ids"
check "node2's agent reports NETFILTER_DROP for every probe of the check" \
  bash -c '[[ -s $1 ]] && comm -23 "$1" "$2" | { ! grep -q .; }' _ "$TMP/fw.ids" "$TMP/drop2.ids"
check "node2 places the drop on node2" jq -e \
  '[.drops[] | select(.reason == "NETFILTER_DROP" and .place.kind == "node" and .place.name == "node2")] | length > 0' \
  "$TMP/drops2.json"
"$LAB" heal --name $L >/dev/null

phase "agents stop"
"$LAB" agents --name $L stop >/dev/null
finish agent_check_test
