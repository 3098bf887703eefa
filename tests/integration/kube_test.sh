#!/usr/bin/env bash
# Integration test of the Kubernetes API as podpath's inventory source, on a lab (kt) whose
# API server 'scripts/lab up' starts (docs/kubernetes.md):
#   1. kubectl (the installed one and the oldest the dispatcher carries) against the lab:
#      get po -o wide, get nodes -o wide, get po -w with an added and a deleted pod;
#   2. podpath pods --kubeconfig lists what --lab lists;
#   3. podpath trace --kubeconfig on node1 (inside its namespace, as an agent would run,
#      with the in-cluster kubeconfig) names every pod of every flow it sees exactly as
#      podpath trace --lab does for the same traffic, and attributes the same containers;
#   4. a pod is deleted and another created with its IP (add-pod --ip) while traffic flows
#      before and after: each flow goes to the pod that held the IP then;
#   5. the API server is stopped for 5 s and started again: podpath keeps running, warns
#      once, and names a pod added meanwhile;
#   6. podpath shared-ip with the API as the source: containers by cgroup from the pods'
#      containerStatuses;
#   7. doctor names the source;
#   8. a Service (scripts/lab service add): kubectl get services,endpointslices -A lists
#      it, and podpath check POD SERVICE --kubeconfig resolves it, its backends and kube-proxy's
#      rule names from the API's Service and EndpointSlice.
# Exit 0 pass, 1 fail, 77 skipped (not root).
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools kubectl socat python3 openssl
require_cni_plugins
WATCH=""
stop_watch() { if [[ -n $WATCH ]]; then kill "$WATCH" 2>/dev/null || true; wait "$WATCH" 2>/dev/null || true; WATCH=""; fi; }
register_cleanup stop_watch

L=kt
lab_up "$L"
INV=$(inventory_of $L)
K=$("$LAB" kubeconfig --name $L)
KIN=$("$LAB" kubeconfig --name $L --in-cluster)
A_NAME=$(pod_field $L node1 0 name) A_IP=$(pod_field $L node1 0 ip) A_NS=$(pod_field $L node1 0 namespace)
C_NAME=$(pod_field $L node2 0 name) C_IP=$(pod_field $L node2 0 ip)
B1=$(pod_field $L node1 1 name) B1_IP=$(pod_field $L node1 1 ip)
B2=$(pod_field $L node2 1 name) B2_IP=$(pod_field $L node2 1 ip)
echo "pods: $A_NAME $A_IP (node1), $C_NAME $C_IP (node2); kubeconfig $K"

# wait_line FILE REGEX [SECONDS]: until a line of FILE matches (extended regex).
wait_line() {
  local deadline=$((SECONDS + ${3:-30}))
  until grep -qE -- "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

phase "1. kubectl against the lab's API server"
check "the kubeconfig points at 127.0.0.1" grep -qE 'server: https://127\.0\.0\.1:[0-9]+$' "$K"
check "the in-cluster kubeconfig points at the gateway" grep -qE 'server: https://10\.0\.0\.1:6443$' "$KIN"
kubectl_dir=$(dirname "$(readlink -f "$(command -v kubectl)")")
oldest=$(find "$kubectl_dir" -maxdepth 1 -name 'kubectl.1.*' -printf '%f\n' | sort -V | head -n1)
kubectls=(kubectl)
[[ -n $oldest ]] && kubectls+=("$kubectl_dir/$oldest")
for kc in "${kubectls[@]}"; do
  v=$("$kc" version --client -o json 2>/dev/null | jq -r '.clientVersion.gitVersion')
  out=$TMP/get-po.$RANDOM
  "$kc" --kubeconfig "$K" --cache-dir "$TMP/cache" get po -A -o wide >"$out" 2>&1 || true
  check "kubectl $v get po -o wide lists the 4 pods" test "$(grep -cE ' Running ' "$out")" -eq 4
  check "kubectl $v: $A_NAME with its IP on node1" grep -qE "^$A_NS +$A_NAME +2/2 +Running +0 +[0-9a-z]+ +${A_IP//./\\.} +node1 " "$out"
  "$kc" --kubeconfig "$K" --cache-dir "$TMP/cache" get nodes -o wide >"$out" 2>&1 || true
  check "kubectl $v get nodes -o wide: node1 10.0.0.2, node2 10.0.0.3" \
    bash -c "grep -qE '^node1 +Ready .* 10\\.0\\.0\\.2 ' '$out' && grep -qE '^node2 +Ready .* 10\\.0\\.0\\.3 ' '$out'"
  w=$TMP/watch.$RANDOM
  "$kc" --kubeconfig "$K" --cache-dir "$TMP/cache" get po -w -A >"$w" 2>&1 &
  WATCH=$!
  wait_line "$w" "$A_NAME" || true
  name=watched-$RANDOM
  "$LAB" add-pod --name $L --node 2 --pod "default/$name" --containers 1 >/dev/null
  check "kubectl $v get po -w shows the added pod" wait_line "$w" "^default +$name +1/1 +Running "
  "$LAB" del-pod --name $L "default/$name" >/dev/null
  check "kubectl $v get po -w shows the deleted pod" wait_line "$w" "^default +$name +1/1 +Terminating "
  stop_watch
done

phase "2. podpath pods: --kubeconfig lists what --lab lists"
pods_of() { "$PODPATH" pods "$@" -o json | jq -c '[.[] | {namespace, name, ip, node, ready}] | sort_by(.name)'; }
check_eq "same pods, IPs and nodes" "$(pods_of --lab $L)" "$(pods_of --kubeconfig "$K")"
"$PODPATH" pods --kubeconfig "$K" >"$TMP/pods.txt" 2>"$TMP/pods.err"
kubectl --kubeconfig "$K" --cache-dir "$TMP/cache" get po -A -o wide >"$TMP/kubectl.txt"
cat "$TMP/kubectl.txt" "$TMP/pods.txt"
# The seed's own command and podpath's: namespace, name, READY, IP and node alike.
check_eq "kubectl get po -o wide shows what podpath pods shows" \
  "$(awk 'NR > 1 { print $1, $2, $3, $7, $8 }' "$TMP/kubectl.txt" | sort)" \
  "$(awk 'NR > 1 { print $1, $2, $3, $4, $5 }' "$TMP/pods.txt" | sort)"

phase "3. trace --kubeconfig on node1 names flows as trace --lab does"
LAB_OUT=$TMP/trace-lab.ndjson KUBE_OUT=$TMP/trace-kube.ndjson
start_podpath "$LAB_OUT" trace --lab $L --output json --interval 0.5
LAB_TRACE=$LAST_PID
# An agent's view: node1's namespace (nsenter keeps /sys, cgroups and bpffs), the in-cluster
# kubeconfig; node1 is found by its address 10.0.0.2.
PODPATH_PREFIX=(nsenter "--net=/run/netns/$L-node1")
start_podpath "$KUBE_OUT" trace --kubeconfig "$KIN" --output json --interval 0.5 --pod-grace 120
KUBE_TRACE=$LAST_PID
PODPATH_PREFIX=()
check "podpath found node1 by its address" grep -q "this host is node node1" "$KUBE_OUT.err"
"$LAB" traffic --name $L --duration 2 >"$TMP/traffic.out" 2>&1 || { cat "$TMP/traffic.out"; fail "scripts/lab traffic"; }
sleep 1.2 # two refreshes at --interval 0.5, so the last snapshots hold every flow
names() { # names FILE: every conversation of the last snapshot as "key src dst container"
  tail -n 1 "$1" | jq -r '.flows[] | "\(.proto) \(.forward.src):\(.sport) \(.forward.dst):\(.dport) \(.src.name) \(.dst.name) \(.forward.container)"' | sort
}
names "$KUBE_OUT" >"$TMP/kube.names"
names "$LAB_OUT" >"$TMP/lab.names"
check "node1 saw flows" test -s "$TMP/kube.names"
check "every flow node1 saw is named as --lab names it (pods and containers)" \
  bash -c "comm -23 '$TMP/kube.names' '$TMP/lab.names' | { ! grep .; }"
check "no unknown pod" bash -c "! grep -q 'unknown pod' '$TMP/kube.names'"
stop_podpath $LAB_TRACE TERM
check_eq "trace --lab exits 0" 0 "$STOP_RC"

phase "4. IP reuse: $A_NAME deleted, reuse-0 created with $A_IP, traffic before and after"
"$LAB" exec --name $L "$C_NAME" -- ping -q -c 10 -i 0.05 -W 1 "$A_IP" >/dev/null
"$LAB" del-pod --name $L "$A_NS/$A_NAME" >/dev/null
"$LAB" add-pod --name $L --node 1 --pod default/reuse-0 --ip "$A_IP" --containers 1 >"$TMP/add.out" 2>&1 ||
  { cat "$TMP/add.out"; fail "add-pod --ip $A_IP"; }
check "add-pod --ip took $A_IP" grep -q "^default/reuse-0 $A_IP$" "$TMP/add.out"
# The new pod's first flow must start after the API says it exists (creation time, 1 s resolution).
sleep 1.1
"$LAB" exec --name $L "$C_NAME" -- ping -q -c 7 -i 0.05 -W 1 "$A_IP" >/dev/null
sleep 1.2
both=$(tail -n 1 "$KUBE_OUT" | jq -c --arg s "$C_IP" --arg d "$A_IP" \
  '[.flows[] | select(.proto == "ICMP" and .forward.src == $s and .forward.dst == $d)] | sort_by(.forward.first_seen_ns)
   | map({dst: .dst.name, deleted: (.dst.deleted // false), packets: .forward.packets})')
check_eq "the flow before went to the deleted pod, the flow after to the new one" \
  "[{\"dst\":\"$A_NS/$A_NAME\",\"deleted\":true,\"packets\":10},{\"dst\":\"default/reuse-0\",\"deleted\":false,\"packets\":7}]" "$both"

phase "5. the API server stopped for 5 s: podpath keeps its view, warns once, resumes"
"$LAB" apiserver --name $L stop >/dev/null
"$LAB" add-pod --name $L --node 1 --pod default/late-0 --containers 1 >"$TMP/late.out" 2>&1 ||
  { cat "$TMP/late.out"; fail "add-pod late-0"; }
LATE_IP=$(awk 'END { print $2 }' "$TMP/late.out")
sleep 5
check "podpath still runs with the API server gone" kill -0 "$KUBE_TRACE"
"$LAB" apiserver --name $L start >/dev/null
check "podpath says when the API answers again" wait_line "$KUBE_OUT.err" 'answers again' 30
"$LAB" exec --name $L "$C_NAME" -- ping -q -c 5 -i 0.05 -W 1 "$LATE_IP" >/dev/null
late_named() { tail -n 1 "$KUBE_OUT" | jq -e --arg d "$LATE_IP" 'any(.flows[]; .forward.dst == $d and .dst.name == "default/late-0")' >/dev/null; }
ok=0
for _ in $(seq 50); do if late_named; then ok=1; break; fi; sleep 0.2; done
check_eq "the pod added during the outage is named" 1 "$ok"
check_eq "one warning for the outage" 1 "$(grep -c 'keeping the last view' "$KUBE_OUT.err" || true)"
stop_podpath $KUBE_TRACE TERM
check_eq "trace --kubeconfig exits 0 on SIGTERM" 0 "$STOP_RC"

phase "6. shared-ip with the API as the source"
SIP_POD=$(pod_field $L node1 0 name)
nsenter --net=/run/netns/$L-node1 "$PODPATH" shared-ip --kubeconfig "$KIN" "$SIP_POD" --probe -o json \
  >"$TMP/sip.json" 2>"$TMP/sip.err" || { cat "$TMP/sip.err"; }
check_eq "PASS" PASS "$(jq -r '.verdict' "$TMP/sip.json" 2>/dev/null)"
check_eq "every container found by its cgroup, named from containerStatuses" \
  "$(jq -c --arg n "$SIP_POD" '[.pods[] | select(.name == $n) | .containers[].name] | sort' "$INV")" \
  "$(jq -c '[.pods[0].containers[] | select(.cgroup_id > 0) | .name] | sort' "$TMP/sip.json" 2>/dev/null)"

phase "7. doctor names the source"
nsenter --net=/run/netns/$L-node1 "$PODPATH" doctor --kubeconfig "$KIN" >"$TMP/doctor.out" 2>&1 || true
check "doctor: the Kubernetes API is used" grep -qE '^  Kubernetes API +used +the Kubernetes API at https://10\.0\.0\.1:6443' "$TMP/doctor.out"
check "doctor: why not the lab" grep -qE '^  lab +no +--kubeconfig was given' "$TMP/doctor.out"

phase "8. a Service from the API: kubectl lists it, check resolves it with --kubeconfig"
"$LAB" service --name $L add web --port 80 --target-port 8080 --backends "$B1,$B2" >"$TMP/svc.out" 2>&1 ||
  { cat "$TMP/svc.out"; fail "service add"; }
VIP=$(jq -r '.services[0].cluster_ip' "$INV")
SEP2=$(jq -r --arg b "$B2_IP" '.services[0].backends[] | select(.ip == $b) | .sep_chain' "$INV")
for kc in "${kubectls[@]}"; do
  v=$("$kc" version --client -o json 2>/dev/null | jq -r '.clientVersion.gitVersion')
  out=$TMP/get-svc.$RANDOM
  "$kc" --kubeconfig "$K" --cache-dir "$TMP/cache" get services,endpointslices -A >"$out" 2>&1 || true
  fails=$FAILS
  check "kubectl $v get services,endpointslices -A: the Service" \
    grep -qE "^default +service/web +ClusterIP +${VIP//./\\.} +<none> +80/TCP " "$out"
  check "kubectl $v get services,endpointslices -A: its EndpointSlice" \
    grep -qE "^default +endpointslice\.discovery\.k8s\.io/web-[0-9a-f]+ +IPv4 +8080 +${B1_IP//./\\.},${B2_IP//./\\.} " "$out"
  [[ $FAILS -eq $fails ]] || { echo "--- kubectl $v printed:"; cat "$out"; }
done
# The client on node1, the agent's view from node1 (in-cluster kubeconfig): the Service, its
# backends and kube-proxy's rule names all come from the API.
CHECK=$TMP/check-kube.json RC=0
nsenter --net=/run/netns/$L-node1 "$PODPATH" check --kubeconfig "$KIN" "$B1" web --connections 8 --output json \
  >"$CHECK" 2>"$CHECK.err" || RC=$?
check_eq "check POD web --kubeconfig exits 0" 0 "$RC"
check_eq "the Service resolved from the API" "default/web $VIP:80" \
  "$(jq -r '"\(.service.name) \(.service.cluster_ip):\(.service.port)"' "$CHECK" 2>/dev/null)"
check_eq "its backends, named by their pods, from the EndpointSlice" "default/$B1 $B1_IP,default/$B2 $B2_IP" \
  "$(jq -r '[.service.backends[] | "\(.pod) \(.ip)"] | sort | join(",")' "$CHECK" 2>/dev/null)"
check_eq "kube-proxy's rule name computed as the lab wrote it" "$SEP2" \
  "$(jq -r --arg b "$B2_IP" '.service.backends[] | select(.ip == $b) | .rule' "$CHECK" 2>/dev/null)"
check "the DNAT hop names the Service" \
  grep -q "(service default/web, rule KUBE-SEP-" <(jq -r '.backends[].request.hops[] | select(.nat != null) | .nat' "$CHECK" 2>/dev/null)
"$LAB" service --name $L del web >/dev/null

finish kube_test
