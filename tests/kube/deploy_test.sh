#!/usr/bin/env bash
# deploy/ is checked without a cluster, no root:
#   1. `kubectl kustomize deploy/` renders (kubectl apply -k uses the same);
#   2. `kubectl create --dry-run=client -o yaml -f deploy/manifests/` against the lab API
#      server fixture, which lists deploy/'s kinds in its discovery (--manifest-kinds): client
#      dry-run still maps every kind through the server's discovery;
#   3. schema checks of what podpath depends on (tests/kube/deploy_check.py): the DaemonSet's
#      flags are flags of this build's `podpath agent`, ports, probes, secrets, host paths,
#      capabilities, the Service, the binding, the scrape job; and mutated manifests fail;
#   4. `promtool check config` on the Prometheus scrape config;
#   5. deploy/Containerfile installs every shared library this build of podpath links (the
#      image itself cannot be built here: no base image can be pulled).
# shellcheck disable=SC2016  # the backquotes below are in an expected message
ROOT=${1:?usage: deploy_test.sh SOURCE_DIR}
# shellcheck source=tests/kube/lib.sh
source "$ROOT/tests/kube/lib.sh"
: "${PODPATH_BIN:?set PODPATH_BIN to the podpath binary}"
command -v kubectl >/dev/null || fail "kubectl is not installed (scripts/install-deps)"
command -v promtool >/dev/null || fail "promtool is not installed (scripts/install-deps: prometheus)"
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml is not installed (scripts/install-deps)"
SCRAPE=$ROOT/deploy/prometheus/scrape-config.yaml

echo "== 1. kubectl kustomize deploy/"
kubectl kustomize "$ROOT/deploy" >"$KT/deploy.yaml"
kinds=$(sed -nE 's/^kind: //p' "$KT/deploy.yaml" | sort | paste -sd,)
[[ $kinds == ClusterRole,ClusterRoleBinding,DaemonSet,Namespace,Service,ServiceAccount ]] || fail "rendered kinds: $kinds"
echo "   $kinds"

echo "== 2. kubectl create --dry-run=client against the lab API server"
fixture_start --manifest-kinds
kubectl --kubeconfig "$KUBECONFIG_FILE" --cache-dir "$KT/cache" create --dry-run=client --validate=false \
  -o yaml -f "$ROOT/deploy/manifests/" >"$KT/dry-run.yaml" 2>"$KT/dry-run.err" ||
  fail "kubectl create --dry-run=client: $(cat "$KT/dry-run.err")"
[[ $(grep -c '^kind: ' "$KT/dry-run.yaml") -eq 6 ]] || fail "dry run printed: $(grep '^kind' "$KT/dry-run.yaml")"
# Nothing was created: the fixture serves no DaemonSet and saw no write.
grep -qE '"(POST|PUT|PATCH|DELETE) ' "$KT/apiserver.log" && fail "the dry run wrote to the API server"
echo "   6 objects, nothing written"

echo "== 3. the fields podpath depends on"
"$PODPATH_BIN" agent --help >"$KT/agent-help.txt"
check() { python3 "$ROOT/tests/kube/deploy_check.py" manifests "$1" "$KT/agent-help.txt" "${2:-$SCRAPE}"; }
check "$KT/deploy.yaml" || fail "deploy/ does not pass its checks"
check "$KT/dry-run.yaml" || fail "kubectl's dry-run output does not pass the checks"
# mutate PYTHON OUT: the rendered objects, edited (ds = the DaemonSet's pod spec, c = its container).
mutate() {
  python3 -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "DaemonSet":
        ds = d["spec"]["template"]["spec"]
        c = ds["containers"][0]
        exec(sys.argv[2])
yaml.safe_dump_all(docs, open(sys.argv[3], "w"))' "$KT/deploy.yaml" "$1" "$2"
}
refused() {
  mutate "$1" "$KT/bad.yaml"
  check "$KT/bad.yaml" 2>"$KT/bad.err" && fail "deploy_check accepted: $1"
  grep -qF -- "$2" "$KT/bad.err" || fail "for '$1' expected '$2', got: $(cat "$KT/bad.err")"
}
refused 'c["securityContext"]["privileged"] = True' 'runs privileged'
refused 'c["securityContext"]["capabilities"]["add"].append("SYS_MODULE")' "capabilities podpath does not need: ['SYS_MODULE']"
refused 'c["args"].append("--max-flow=10")' '`podpath agent` has no flag --max-flow'
refused 'c["args"] = [a for a in c["args"] if not a.startswith("--token-file")]' 'without TLS and client authentication'
refused 'c["readinessProbe"]["httpGet"]["port"] = "api"' 'readinessProbe must GET /readyz on the metrics port'
refused 'ds["hostNetwork"] = False' 'hostNetwork: true'
refused 'next(m for m in c["volumeMounts"] if m["mountPath"] == "/sys/kernel/btf")["readOnly"] = False' \
  '/sys/kernel/btf must be mounted read-only'
refused 'del c["resources"]["limits"]["memory"]' 'resources.limits.memory is not set'
echo "   deploy/ passes; 8 broken variants are refused"

echo "== 4. promtool check config"
promtool check config "$SCRAPE"
sed 's/port: 9991/port: 9990/' "$SCRAPE" >"$KT/scrape-api.yaml"
check "$KT/deploy.yaml" "$KT/scrape-api.yaml" 2>"$KT/bad.err" && fail "a scrape job on the API port passed"

echo "== 5. deploy/Containerfile installs the libraries this build of podpath links"
# The image itself cannot be built here (no base image can be pulled): this checks its
# runtime package list against the binary. Each library the binary needs (readelf NEEDED,
# resolved by ldd) comes from a Debian package, which the runtime stage must install (or the
# base image has: libc6, libgcc-s1).
runtime=$(sed -n '/^FROM .*debian:12-slim/,$p' "$ROOT/deploy/Containerfile")
missing=()
while read -r lib path; do
  pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null) ||
    fail "no Debian package owns $path ($lib)"
  pkg=${pkg%%:*}
  [[ $pkg == libc6 || $pkg == libgcc-s1 ]] && continue
  grep -qwF -- "$pkg" <<<"$runtime" || missing+=("$pkg ($lib)")
done < <(readelf -d "$PODPATH_BIN" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p' | while read -r lib; do
  printf '%s %s\n' "$lib" "$(ldd "$PODPATH_BIN" | awk -v l="$lib" '$1 == l { print $3 }')"
done)
[[ ${#missing[@]} -eq 0 ]] || fail "deploy/Containerfile's runtime stage lacks: ${missing[*]}"
echo "   every NEEDED library of podpath is installed by the runtime stage"
echo "PASS: deploy/ checks"
