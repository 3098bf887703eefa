#!/usr/bin/env bash
# Integration test of the web map (docs/web.md) in a real browser: `podpath trace --lab LAB
# --web 127.0.0.1:0` serves the page and the /v1 API on loopback in the root namespace (the
# lab's addresses stay in its namespaces; the browser only talks to 127.0.0.1), and headless
# Chromium, driven by Selenium (web_map_driver.py), checks that
#   - the page loads with no console error, its stream goes live;
#   - both nodes, the gateway, every pod (4th octet highlighted), each route -n are drawn;
#   - the namespace filter narrows the pods;
#   - a ping from a node1 pod to a node2 pod raises every observed hop's counter of that
#     path in the page without a reload, within 2 s of the ping's end;
#   - after `scripts/lab break firewall node2`, a ping node1 -> node2 puts the kernel's
#     drops (NETFILTER_DROP) live at node2's hop, with no check loaded, and the trace's
#     /v1/drops (curl) holds them;
#   - a `podpath check`, whose JSON the page loads, marks the blocked hop on node2 with the
#     kernel's drop reason;
#   - when the server goes away the page says its stream stopped: a broken stream fails the
#     test instead of leaving a frozen map that looks live.
# Then `podpath trace --cluster --web` over the lab's agents (their unix sockets): both nodes
# and every pod drawn, a ping raising its path's hop counters, node2 drawn as unreachable
# (its pods kept) once its agent stops, and again a stopped stream seen.
# Here too: the page's headers (CSP), a non-loopback --web refused, /v1/nodes lists both nodes.
# Screenshots (1280x800) web-map.png and web-map-check.png go to $PODPATH_SCREENSHOT_DIR if
# set (PODPATH_SCREENSHOT_DIR=docs/img refreshes the README's pictures), else to the test's
# scratch directory: a test run leaves the checkout as it found it.
#
#   tests/integration/web_map_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools chromium chromedriver curl bpftool
# Debian's python3-selenium is installed for Debian's interpreter, not for one a version
# manager (pyenv) puts first on PATH.
PY=/usr/bin/python3
"$PY" -c 'import selenium' 2>/dev/null || skip "python3-selenium missing (run scripts/install-deps)"
register_cleanup

L=wm
phase "lab $L and podpath trace --web"
lab_up "$L"
start_podpath "$TMP/trace.out" trace --lab "$L" --web 127.0.0.1:0 --interval 0.5
TRACE_PID=$LAST_PID
URL=$(sed -n 's|^podpath trace: the map is at \(http://127\.0\.0\.1:[0-9]*/\)$|\1|p' "$TMP/trace.out" | head -1)
check "trace --web prints the map's URL on loopback ($URL)" test -n "$URL"
[[ -n $URL ]] || finish web_map_test

phase "the page and the API over HTTP"
headers=$(curl -sS -D - -o "$TMP/index.html" "$URL")
check "the page is served" grep -q '<svg id="map"' "$TMP/index.html"
check "with a Content-Security-Policy that allows its own origin only" \
  grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" <<<"$headers"
check "map.js is served as JavaScript" \
  bash -c "curl -sS -D - -o /dev/null '${URL}map.js' | grep -qi '^content-type: text/javascript'"
check_eq "/v1/nodes lists the lab's nodes" "node1 node2" \
  "$(curl -sS "${URL}v1/nodes" | jq -r '[.nodes[].node] | join(" ")')"
check_eq "/v1/nodes lists every pod with its IP" \
  "$(jq '.pods | length' "$(inventory_of $L)")" "$(curl -sS "${URL}v1/nodes" | jq '[.nodes[].pods[].ip] | length')"
check "/v1/node points at /v1/nodes (several nodes)" \
  bash -c "curl -sS '${URL}v1/node' | jq -e '.error | test(\"v1/nodes\")' >/dev/null"
check "a non-loopback --web is refused without TLS and client authentication" \
  bash -c "'$PODPATH' trace --lab $L --web 10.0.0.2:8080 2>&1 | grep -q 'refusing to serve'"

phase "each lab agent serves the map of its node too (over its unix socket)"
"$LAB" agents --name $L start -- --interval 0.5 >"$TMP/agents.out" 2>&1 || { cat "$TMP/agents.out"; fail "agents start"; }
SOCK=/run/podpath-lab/$L/agents/node1.sock
check "the agent serves the page at /" \
  bash -c "curl -fsS --max-time 10 --unix-socket $SOCK http://agent/ | grep -q '<svg id=\"map\"'"
check_eq "its /v1/nodes lists its own node with its pods" "node1 $(jq '[.pods[] | select(.node == "node1")] | length' "$(inventory_of $L)")" \
  "$(curl -fsS --max-time 10 --unix-socket $SOCK http://agent/v1/nodes | jq -r '.nodes[0].node + " " + (.nodes[0].pods | length | tostring)')"
"$LAB" agents --name $L stop >/dev/null 2>&1 || fail "agents stop"

phase "headless Chromium"
SHOTS=${PODPATH_SCREENSHOT_DIR:-$TMP/screenshots}
mkdir -p "$SHOTS"
rc=0
"$PY" "$ROOT/tests/integration/web_map_driver.py" --url "$URL" --lab "$L" --podpath "$PODPATH" \
  --lab-script "$LAB" --trace-pid "$TRACE_PID" --screenshots "$SHOTS" >"$TMP/driver.out" 2>&1 || rc=$?
cat "$TMP/driver.out"
check_eq "the browser checks" 0 "$rc"
stop_podpath "$TRACE_PID"
check_eq "trace --web exits 0 on SIGTERM" 0 "$STOP_RC"

phase "trace --cluster --web: the map of the lab's agents, read over their unix sockets"
"$LAB" agents --name $L start -- --interval 0.5 >"$TMP/agents.out" 2>&1 || { cat "$TMP/agents.out"; fail "agents start"; }
start_podpath "$TMP/cluster.out" trace --cluster --lab "$L" --web 127.0.0.1:0 --interval 0.5
CLUSTER_PID=$LAST_PID
CLUSTER_URL=$(sed -n 's|^podpath trace: the map is at \(http://127\.0\.0\.1:[0-9]*/\)$|\1|p' "$TMP/cluster.out" | head -1)
check "trace --cluster --web prints the map's URL on loopback ($CLUSTER_URL)" test -n "$CLUSTER_URL"
if [[ -n $CLUSTER_URL ]]; then
  check_eq "its /v1/nodes lists both nodes, each agent reachable" "node1:reachable node2:reachable" \
    "$(curl -sS "${CLUSTER_URL}v1/nodes" | jq -r '[.nodes[] | .node + ":" + .agent_state.state] | join(" ")')"
  check_eq "with every pod" "$(jq '.pods | length' "$(inventory_of $L)")" \
    "$(curl -sS "${CLUSTER_URL}v1/nodes" | jq '[.nodes[].pods[].ip] | length')"
  check "its /v1/drops answers (the agents' drops merged)" \
    bash -c "curl -fsS '${CLUSTER_URL}v1/drops' | jq -e '.drops | type == \"array\"' >/dev/null"
  rc=0
  "$PY" "$ROOT/tests/integration/web_map_driver.py" --cluster --url "$CLUSTER_URL" --lab "$L" --podpath "$PODPATH" \
    --lab-script "$LAB" --trace-pid "$CLUSTER_PID" --agent-pid "$(cat "/run/podpath-lab/$L/agents/node2.pid")" \
    --screenshots "$SHOTS" >"$TMP/driver-cluster.out" 2>&1 || rc=$?
  cat "$TMP/driver-cluster.out"
  check_eq "the browser checks of trace --cluster --web" 0 "$rc"
fi
stop_podpath "$CLUSTER_PID"
check_eq "trace --cluster --web exits 0 on SIGTERM" 0 "$STOP_RC"
"$LAB" agents --name $L stop >/dev/null 2>&1 || fail "agents stop"
check "no podpath program left" no_podpath_programs_left
finish web_map_test
