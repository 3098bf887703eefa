#!/usr/bin/env bash
# The C++ client (userspace/kube, through tests/kube/kube_probe) against the lab API
# server fixture on 127.0.0.1, no root:
#   1. lists pods, nodes, Services and EndpointSlices and watches them: an added and a
#      deleted pod arrive, and a Service with its EndpointSlice, added then deleted;
#   2. the server stops for a few seconds: the client keeps its last view, warns once, and
#      after the restart picks up a pod added meanwhile;
#   3. a forced 410 (watches muted, a pod deleted, history compacted): the relist emits
#      the delete the watch missed;
#   4. a wrong token and a wrong CA: one clear line each.
# Prints the API calls the client made (for deploy/'s RBAC).
ROOT=${1:?usage: client_test.sh SOURCE_DIR}
# shellcheck source=tests/kube/lib.sh
source "$ROOT/tests/kube/lib.sh"
: "${KUBE_PROBE:?set KUBE_PROBE to the kube_probe binary}"
command -v jq >/dev/null || fail "jq is not installed (scripts/install-deps)"

OUT=$KT/probe.out
start_probe() {
  "$KUBE_PROBE" --kubeconfig "$1" --backoff-max-ms 1000 >"$2" 2>"$2.err" &
  PROBE_PID=$!
}
stop_probe() {
  kill "$PROBE_PID"
  wait "$PROBE_PID" || fail "kube_probe exited with $? (stderr: $(cat "$2.err"))"
  PROBE_PID=
}

echo "== 1. list and watch"
fixture_start
start_probe "$KUBECONFIG_FILE" "$OUT"
wait_for "$OUT" '^SYNCED pods$'
wait_for "$OUT" '^SYNCED nodes$'
wait_for "$OUT" '^SYNCED services$'
wait_for "$OUT" '^SYNCED endpointslices$'
grep -qE '^ADDED pod default/web-7d4b9-x2k4q 10\.10\.129\.2 node1 uid=2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10 containers=containerd://bb0{61}1,containerd://bb0{61}2$' "$OUT" ||
  fail "web pod as listed: $(grep web "$OUT")"
grep -qE '^ADDED node node2 10\.0\.0\.3 10\.10\.130\.0/24$' "$OUT" || fail "node2 as listed"
wait_for "$KT/apiserver.log" 'GET /api/v1/pods\?watch=1&resourceVersion=[0-9]+&allowWatchBookmarks=true&timeoutSeconds=[0-9]+ '
add_pod cache-0 10.10.130.9
wait_for "$OUT" '^ADDED pod default/cache-0 10\.10\.130\.9 node2 '
del_pod db-0
wait_for "$OUT" '^DELETED pod default/db-0 '
wait_for "$OUT" '^VIEW default/cache-0,default/web-7d4b9-x2k4q$'
# A Service as scripts/lab service add records it: the fixture serves it and its EndpointSlice.
jq '.service_cidr = "10.96.0.0/12" | .services = [{namespace: "default", name: "web", cluster_ip: "10.96.0.10",
      protocol: "TCP", port: 80, target_port: 8080, port_name: "http", svc_chain: "KUBE-SVC-CDGGSHYLG3RE2FKL",
      backends: [{pod: "default/web-7d4b9-x2k4q", ip: "10.10.129.2", node: "node1",
                  sep_chain: "KUBE-SEP-MEPOT2LTMZIBUOBL"}]}]' "$INV" >"$INV.tmp"
mv "$INV.tmp" "$INV"
wait_for "$OUT" '^ADDED service default/web 10\.96\.0\.10$'
wait_for "$OUT" '^ADDED endpointslice default/web-[0-9a-f]+ service=web endpoints=1$'
jq '.services = []' "$INV" >"$INV.tmp"
mv "$INV.tmp" "$INV"
wait_for "$OUT" '^DELETED service default/web '
wait_for "$OUT" '^DELETED endpointslice default/web-[0-9a-f]+ '

echo "== 2. the API server goes away for a few seconds"
fixture_stop
wait_for "$OUT" '^HEALTH pods lost: cannot reach the Kubernetes API at https://127\.0\.0\.1:[0-9]+'
add_pod late-0 10.10.130.10
sleep 3 # the outage: the client retries meanwhile
fixture_start
wait_for "$OUT" '^ADDED pod default/late-0 10\.10\.130\.10 '
wait_for "$OUT" '^HEALTH pods back: '
[[ $(count "$OUT" '^HEALTH pods lost') -eq 1 ]] || fail "the outage was reported more than once"
[[ $(count "$OUT" '^DELETED pod') -eq 1 ]] || fail "a pod was deleted during the outage: $(grep DELETED "$OUT")"
wait_for "$OUT" '^VIEW default/cache-0,default/late-0,default/web-7d4b9-x2k4q$'

echo "== 3. a forced 410 after a missed delete"
wait_for "$KT/apiserver.log" 'GET /api/v1/pods\?watch=1' # the client watches the restarted server
syncs=$(count "$OUT" '^SYNCED pods$')
fixture_fault mute
del_pod cache-0
wait_fixture_pods 2
sleep 1 # long enough for a muted watch to have delivered the DELETED event, were it not muted
grep -qE '^DELETED pod default/cache-0 ' "$OUT" && fail "the muted watch delivered the delete"
fixture_fault compact
wait_for "$OUT" '^DELETED pod default/cache-0 '
[[ $(count "$OUT" '^SYNCED pods$') -gt $syncs ]] || fail "the delete did not come from a relist"
wait_for "$OUT" '^VIEW default/late-0,default/web-7d4b9-x2k4q$'
stop_probe "$OUT" "$OUT"
grep -q '^STOPPED$' "$OUT" || fail "kube_probe did not stop cleanly"

echo "== 4. a wrong token, a wrong CA"
sed -E 's/token: .*/token: wrong/' "$KUBECONFIG_FILE" >"$KT/bad-token"
start_probe "$KT/bad-token" "$KT/bad-token.out"
wait_for "$KT/bad-token.out" '^HEALTH pods lost: the Kubernetes API at https://127\.0\.0\.1:[0-9]+ refused the credentials \(401 Unauthorized\)'
stop_probe "$KT/bad-token.out" "$KT/bad-token.out"
other_ca=$(python3 "$ROOT/scripts/lib/lab_apiserver.py" certs --tls-dir "$KT/other-tls" | sed -n 1p)  # sed reads everything: head would close the pipe under python
sed -E "s|certificate-authority-data: .*|certificate-authority-data: $(base64 -w0 "$other_ca")|" "$KUBECONFIG_FILE" >"$KT/bad-ca"
start_probe "$KT/bad-ca" "$KT/bad-ca.out"
wait_for "$KT/bad-ca.out" '^HEALTH pods lost: TLS with the Kubernetes API at https://127\.0\.0\.1:[0-9]+ failed: '
stop_probe "$KT/bad-ca.out" "$KT/bad-ca.out"
grep -h '^HEALTH' "$KT/bad-token.out" "$KT/bad-ca.out"

echo "== API calls the client made (verb, path, query keys)"
sed -nE 's/.*"(GET|POST) ([^ ]+) HTTP.*/\1 \2/p' "$KT/apiserver.log" | grep -v '/_fixture/' |
  sed -E 's/=[^&]*/=…/g' | sort | uniq -c
echo "PASS: the C++ client against the lab API server"
