#!/usr/bin/env bash
# A real Prometheus scraping the lab's agents: Debian's prometheus server runs in the lab's
# gateway namespace (a client inside the cluster network) with a generated configuration that
# scrapes both agents' /metrics. Once both targets are up, 20 pings go from a node1 pod to a
# node2 pod; the CIDR-pair counter (node1 pods -> node2 pods), read through Prometheus's
# HTTP API, must have grown by exactly the packets the agent counted for that conversation.
#
#   tests/integration/agent_prometheus_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/integration/agent_lib.sh
source "$ROOT/tests/integration/agent_lib.sh"
require_root_and_tools curl openssl prometheus promtool
register_cleanup

L="pm"
lab_up "$L"
GW=$L-gw
A_NAME=$(pod_field $L node1 0 name)
A_IP=$(pod_field $L node1 0 ip)
C_IP=$(pod_field $L node2 0 ip)
SOCK1=/run/podpath-lab/$L/agents/node1.sock
PROM=127.0.0.1:9090   # inside the gateway's namespace

phase "one agent per node (scripts/lab agents start)"
PODPATH_BIN=$PODPATH "$LAB" agents --name $L start >"$TMP/agents.out" 2>&1 || { cat "$TMP/agents.out"; exit 1; }
cat "$TMP/agents.out"

phase "Prometheus in the gateway's namespace, scraping both agents every second"
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: podpath
    static_configs:
      - targets: ['10.0.0.2:9991', '10.0.0.3:9991']
YML
check "promtool accepts the configuration" promtool check config "$TMP/prometheus.yml"
# nsenter itself, not in_ns: a function in the background is a subshell, and its pid is not
# Prometheus's (the cleanup's SIGTERM would miss the server).
nsenter --net="/run/netns/$GW" -- prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
  --web.listen-address="$PROM" --log.level=warn >"$TMP/prometheus.log" 2>&1 &
PODPATH_PIDS+=("$!")
prom() {  # prom PATH: GET from Prometheus's HTTP API (inside the gateway's namespace)
  in_ns "$GW" curl -fsS --max-time 5 "http://$PROM$1"
}
query() {  # query PROMQL: the value of an instant query (0 when empty)
  prom "/api/v1/query?query=$(jq -rn --arg q "$1" '$q | @uri')" | jq -r '.data.result[0].value[1] // "0"'
}
up=0
for _ in $(seq 300); do
  up=$(prom /api/v1/targets 2>/dev/null | jq '[.data.activeTargets[] | select(.health == "up")] | length' || echo 0)
  (( up == 2 )) && break
  sleep 0.1
done
check_eq "both agents are up targets" 2 "$up"

phase "20 pings node1 pod -> node2 pod"
pair='podpath_cidr_pair_packets_total{node="node1",src_cidr="10.10.129.0/24",dst_cidr="10.10.130.0/24"}'
before=$(query "$pair")
echo "before: $before"
"$LAB" exec --name $L "$A_NAME" -- ping -q -c 20 -i 0.05 -W 1 "$C_IP" >/dev/null
counted=""
for _ in $(seq 100); do
  counted=$(api "$SOCK1" "/v1/flows?proto=icmp" |
    jq -r --arg s "$A_IP" --arg d "$C_IP" '.flows[] | select(.forward.src == $s and .forward.dst == $d) | .forward.packets')
  [[ $counted == 20 ]] && break
  sleep 0.1
done
check_eq "node1's agent counted the 20 requests" 20 "$counted"
after=$before
for _ in $(seq 100); do
  after=$(query "$pair")
  [[ $after == $((before + counted)) ]] && break
  sleep 0.2
done
echo "after: $after"
check_eq "Prometheus: the counter grew by exactly the packets podpath counted" "$counted" "$((after - before))"
check_eq "node2 counts that pair once, as node1 does (not again where it arrives)" 0 \
  "$(query 'podpath_cidr_pair_packets_total{node="node2",src_cidr="10.10.129.0/24",dst_cidr="10.10.130.0/24"}')"
replies=""
for _ in $(seq 100); do  # node2's last reply reaches Prometheus at node2's next scrape
  replies=$(query 'podpath_cidr_pair_packets_total{node="node2",src_cidr="10.10.130.0/24",dst_cidr="10.10.129.0/24"}')
  [[ $replies == "$counted" ]] && break
  sleep 0.2
done
check_eq "the replies: node2 pods -> node1 pods, counted by node2's agent" "$counted" "$replies"
check "podpath_build_info of both nodes" test "$(query 'count(podpath_build_info)')" = 2
in_ns "$L-node1" curl -fsS --max-time 5 http://10.0.0.2:9991/metrics >"$TMP/metrics.txt"
check "promtool check metrics passes on node1's output" promtool check metrics <"$TMP/metrics.txt"

"$LAB" agents --name $L stop >/dev/null
finish agent_prometheus_test
