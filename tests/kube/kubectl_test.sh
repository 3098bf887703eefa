#!/usr/bin/env bash
# The lab API server judged by a real kubectl: 'get po -o wide', 'get nodes -o wide' and
# 'get po -w' (an added and a deleted pod), plus 401 without the token. Runs once with the
# kubectl the machine has and, where kubectl is a version dispatcher (kubectl.1.NN
# binaries beside it, chosen by the server's /version), once with the oldest it offers.
# No root; the fixture listens on 127.0.0.1.
ROOT=${1:?usage: kubectl_test.sh SOURCE_DIR}
# shellcheck source=tests/kube/lib.sh
source "$ROOT/tests/kube/lib.sh"

command -v kubectl >/dev/null || fail "kubectl is not installed (scripts/install-deps installs one)"
command -v jq >/dev/null || fail "jq is not installed (scripts/install-deps)"

# The server versions to present: the default (the installed kubectl's own choice) and,
# with a dispatcher, the oldest minor it carries.
kubectl_dir=$(dirname "$(readlink -f "$(command -v kubectl)")")
oldest=$(find "$kubectl_dir" -maxdepth 1 -name 'kubectl.1.*' -printf '%f\n' | sed 's/^kubectl\.//' | sort -V | head -n1)
versions=(1.32)
[[ -n $oldest && $oldest != 1.32 ]] && versions+=("$oldest")

check_version() {
  local server_version=$1 kc=(kubectl --kubeconfig "$KUBECONFIG_FILE" --cache-dir "$KT/cache-$1")
  local out=$KT/out-$1 minor
  echo "== kubectl against a server that says v$server_version"
  # Which kubectl ran: the dispatcher picks kubectl.MAJOR.MINOR from the server's /version.
  minor=$("${kc[@]}" version -o json | jq -r .clientVersion.minor)
  minor=${minor%%[!0-9]*} # "32+" on some builds
  if [[ -n $oldest ]]; then
    [[ $minor == "${server_version#1.}" ]] || fail "the dispatcher ran kubectl 1.$minor for a v$server_version server"
  fi
  echo "   kubectl 1.$minor"

  "${kc[@]}" get po -o wide >"$out"
  cat "$out"
  head -n1 "$out" | grep -qE '^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE' || fail "get po -o wide: header"
  grep -qE '^web-7d4b9-x2k4q +2/2 +Running +0 +[0-9a-z]+ +10\.10\.129\.2 +node1 ' "$out" || fail "get po -o wide: web"
  grep -qE '^db-0 +0/0 +Running +0 +[0-9a-z]+ +10\.10\.130\.2 +node2 ' "$out" || fail "get po -o wide: db-0"

  "${kc[@]}" get nodes -o wide >"$out"
  cat "$out"
  head -n1 "$out" | grep -qE '^NAME +STATUS +ROLES +AGE +VERSION +INTERNAL-IP ' || fail "get nodes -o wide: header"
  grep -qE '^node1 +Ready +<none> +[0-9a-z]+ +v[0-9.]+-podpath-lab +10\.0\.0\.2 ' "$out" || fail "get nodes: node1"
  grep -qE '^node2 +Ready .* 10\.0\.0\.3 ' "$out" || fail "get nodes: node2"

  "${kc[@]}" get po -A -o json | jq -e '.items[] | select(.metadata.name == "web-7d4b9-x2k4q")
      | .status.containerStatuses[0].containerID == "containerd://bb00000000000000000000000000000000000000000000000000000000000001"
        and .status.podIPs[0].ip == "10.10.129.2" and .metadata.labels.app == "web"' >/dev/null ||
    fail "get po -o json: containerID, podIPs or labels"

  # get po -w: the list, then an added and a deleted pod.
  local name="cache-${server_version//./-}" watch_out=$KT/watch-$1
  "${kc[@]}" get po -w >"$watch_out" 2>&1 &
  WATCH_PID=$!
  wait_for "$watch_out" '^web-7d4b9-x2k4q '
  wait_for "$KT/apiserver.log" 'GET /api/v1/namespaces/default/pods\?.*watch=true'
  local pods
  pods=$(jq '.pods | length' "$INV")
  add_pod "$name" 10.10.130.9
  wait_for "$watch_out" "^$name +1/1 +Running "
  del_pod "$name"
  wait_for "$watch_out" "^$name +1/1 +Terminating "
  wait_fixture_pods "$pods"
  kill "$WATCH_PID"
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=
  cat "$watch_out"

  "${kc[@]}" get po -w --output-watch-events >"$watch_out" 2>&1 &
  WATCH_PID=$!
  wait_for "$watch_out" '^ADDED +web-7d4b9-x2k4q '
  add_pod "$name" 10.10.130.9
  wait_for "$watch_out" "^ADDED +$name "
  del_pod "$name"
  wait_for "$watch_out" "^DELETED +$name "
  kill "$WATCH_PID"
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=

  # Without the token: 401, as kubectl words it.
  sed -E 's/token: .*/token: wrong/' "$KUBECONFIG_FILE" >"$KT/bad-kubeconfig"
  if kubectl --kubeconfig "$KT/bad-kubeconfig" --cache-dir "$KT/cache-bad" get po >"$out" 2>&1; then
    fail "a wrong token was accepted"
  fi
  grep -qiE 'must be logged in|Unauthorized' "$out" || fail "401: $(cat "$out")"
}

for v in "${versions[@]}"; do
  fixture_start --server-version "$v"
  check_version "$v"
  fixture_stop
  FIXTURE_PORT=0
done
echo "PASS: kubectl ${versions[*]} against the lab API server"
