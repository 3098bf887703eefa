#!/usr/bin/env bash
# deploy/'s ClusterRole grants exactly what podpath's Kubernetes client uses, no root:
#   1. record: the lab API server fixture logs every request while the real client runs
#      against it (`podpath pods` and `podpath doctor` with --kubeconfig, and kube_probe,
#      which lists and watches everything the informers of userspace/kube can watch);
#   2. derive: every API collection path written in userspace/ (a new informer's path is
#      caught here even before anything runs it);
#   3. judge (deploy_check.py rbac): each call (verb, group, resource) is granted by the
#      ClusterRole of `kubectl kustomize deploy/`, and the ClusterRole grants no other
#      resource, no verb beyond get/list/watch, no wildcard.
ROOT=${1:?usage: rbac_test.sh SOURCE_DIR}
# shellcheck source=tests/kube/lib.sh
source "$ROOT/tests/kube/lib.sh"
: "${KUBE_PROBE:?set KUBE_PROBE to the kube_probe binary}"
: "${PODPATH_BIN:?set PODPATH_BIN to the podpath binary}"
command -v kubectl >/dev/null || fail "kubectl is not installed (scripts/install-deps)"
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml is not installed (scripts/install-deps)"

echo "== 1. record the API calls of the real client"
fixture_start
"$PODPATH_BIN" pods --kubeconfig "$KUBECONFIG_FILE" >"$KT/pods.out" 2>&1 ||
  fail "podpath pods --kubeconfig failed: $(cat "$KT/pods.out")"
grep -q 'web-7d4b9-x2k4q' "$KT/pods.out" || fail "podpath pods did not list the fixture's pods: $(cat "$KT/pods.out")"
"$PODPATH_BIN" doctor --kubeconfig "$KUBECONFIG_FILE" >"$KT/doctor.out" 2>&1 || true # exit 1 without root
grep -qE '^  Kubernetes API +used ' "$KT/doctor.out" || fail "doctor did not use the fixture: $(cat "$KT/doctor.out")"
# --cluster finds the agents as the DaemonSet's pods (the fixture has none: the command fails
# after listing them, which is the call recorded here).
"$PODPATH_BIN" paths --cluster --kubeconfig "$KUBECONFIG_FILE" --duration 1 >"$KT/cluster.out" 2>&1 || true
grep -q 'no podpath agent pod in namespace podpath' "$KT/cluster.out" ||
  fail "paths --cluster did not look for the agents through the fixture: $(cat "$KT/cluster.out")"
"$KUBE_PROBE" --kubeconfig "$KUBECONFIG_FILE" --backoff-max-ms 1000 >"$KT/probe.out" 2>"$KT/probe.out.err" &
PROBE_PID=$!
for r in pods nodes services endpointslices; do wait_for "$KT/probe.out" "^SYNCED $r\$"; done
for r in pods nodes services; do wait_for "$KT/apiserver.log" "GET /api/v1/$r\?watch=1"; done
wait_for "$KT/apiserver.log" 'GET /apis/discovery.k8s.io/v1/endpointslices\?watch=1'
kill "$PROBE_PID"
wait "$PROBE_PID" || true
PROBE_PID=

# "GET /api/v1/pods?limit=500 HTTP/1.1" -> "list core pods"; ?watch=1 -> watch; a named
# object -> get. Discovery (/api, /apis, /version, group and version documents) is open to
# every authenticated client (system:discovery) and needs no rule.
to_calls() {
  sed -nE 's/.*"GET ([^ ?]+)(\?[^ ]*)? HTTP.*/\1 \2/p' | while read -r path query; do
    IFS=/ read -r -a p <<<"${path#/}"
    local group resource name=
    if [[ ${p[0]} == api && ${#p[@]} -ge 3 ]]; then
      group=core rest=("${p[@]:2}")
    elif [[ ${p[0]} == apis && ${#p[@]} -ge 4 ]]; then
      group=${p[1]} rest=("${p[@]:3}")
    else
      continue
    fi
    [[ ${rest[0]} == namespaces && ${#rest[@]} -ge 3 ]] && rest=("${rest[@]:2}")
    # "/api/v1/namespaces/" + NS + "/pods": in the code, a namespaced path's literal ends at
    # the namespace; what it reaches is recorded in step 1.
    [[ ${rest[0]} == namespaces && $path == */ ]] && continue
    resource=${rest[0]}
    [[ ${#rest[@]} -ge 2 ]] && name=${rest[1]}
    if [[ -n $name ]]; then
      echo "get $group $resource"
    elif [[ $query =~ [?\&]watch=(1|true) ]]; then
      echo "watch $group $resource"
    else
      echo "list $group $resource"
    fi
  done
}
to_calls <"$KT/apiserver.log" | sort -u >"$KT/recorded"
echo "   recorded: $(paste -sd, "$KT/recorded")"

echo "== 2. the collection paths written in userspace/"
grep -rhoE '"/apis?/[a-z0-9./-]+"' "$ROOT/userspace" --include='*.cpp' --include='*.hpp' | tr -d '"' |
  sed 's/$/ HTTP/; s/^/"GET /' | to_calls | sort -u >"$KT/static"
[[ -s $KT/static ]] || fail "no API path found in userspace/: has the client moved?"
echo "   in the code: $(paste -sd, "$KT/static")"
# Each path in the code must also have been exercised by step 1, or the recording misses a caller.
while read -r _ group resource; do
  grep -qE "^(list|watch) $group $resource\$" "$KT/recorded" ||
    fail "userspace/ uses $resource ($group) but no recorded client call did: extend step 1 (kube_probe) to cover it"
done <"$KT/static"

echo "== 3. the ClusterRole against the calls"
kubectl kustomize "$ROOT/deploy" >"$KT/deploy.yaml"
sort -u "$KT/recorded" "$KT/static" >"$KT/calls"
python3 "$ROOT/tests/kube/deploy_check.py" rbac "$KT/deploy.yaml" "$KT/calls"
# The check itself can fail: a role without endpointslices, and one with configmaps, are refused.
# mutate RULES_EXPR OUT: the rendered objects with the ClusterRole's rules replaced.
mutate() {
  python3 -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "ClusterRole":
        rules = d["rules"]
        exec(sys.argv[2])
yaml.safe_dump_all(docs, open(sys.argv[3], "w"))' "$KT/deploy.yaml" "$1" "$2"
}
mutate 'rules[:] = [r for r in rules if "discovery.k8s.io" not in r["apiGroups"]]' "$KT/narrow.yaml"
python3 "$ROOT/tests/kube/deploy_check.py" rbac "$KT/narrow.yaml" "$KT/calls" >/dev/null 2>"$KT/narrow.err" &&
  fail "a ClusterRole without endpointslices passed"
grep -q 'calls list/watch on endpointslices' "$KT/narrow.err" || fail "narrow role: $(cat "$KT/narrow.err")"
mutate 'rules[0]["resources"].append("configmaps")' "$KT/wide.yaml"
python3 "$ROOT/tests/kube/deploy_check.py" rbac "$KT/wide.yaml" "$KT/calls" >/dev/null 2>"$KT/wide.err" &&
  fail "a ClusterRole with configmaps passed"
grep -q 'grants configmaps (core), which the client never uses' "$KT/wide.err" || fail "wide role: $(cat "$KT/wide.err")"
mutate 'rules[0]["verbs"].append("create")' "$KT/write.yaml"
python3 "$ROOT/tests/kube/deploy_check.py" rbac "$KT/write.yaml" "$KT/calls" >/dev/null 2>"$KT/write.err" &&
  fail "a ClusterRole granting create passed"
echo "PASS: deploy/'s ClusterRole is exactly what the client uses"
