# shellcheck shell=bash
# Helpers for the kube tier: a temporary directory, the lab API server fixture on
# 127.0.0.1, inventory edits with jq, and waiting for a line to appear in a file.
# Sourced by tests/kube/*_test.sh with ROOT set to the source tree.

set -euo pipefail

KT=$(mktemp -d /tmp/podpath-kube-XXXXXX)
FIXTURE_PID=
FIXTURE_PORT=0
INV=$KT/inventory.json
KUBECONFIG_FILE=$KT/kubeconfig

kube_cleanup() {
  local rc=$?
  [[ -n ${PROBE_PID:-} ]] && kill "$PROBE_PID" 2>/dev/null && wait "$PROBE_PID" 2>/dev/null
  [[ -n ${WATCH_PID:-} ]] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
  fixture_stop
  if [[ $rc -ne 0 ]]; then
    echo "---- fixture log" >&2
    tail -n 40 "$KT/apiserver.log" >&2 2>/dev/null || true
    local f
    for f in "$KT"/*.out "$KT"/*.out.err; do
      [[ -s $f ]] || continue
      echo "---- $f" >&2
      tail -n 40 "$f" >&2
    done
  fi
  rm -rf "$KT"
  exit "$rc"
}
trap kube_cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# wait_for FILE REGEX [SECONDS]: until a line of FILE matches REGEX (extended).
wait_for() {
  local file=$1 re=$2 deadline=$((SECONDS + ${3:-30}))
  until grep -qE -- "$re" "$file" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "---- $file" >&2
      cat "$file" >&2 2>/dev/null || true
      fail "no line matching '$re' in $file"
    fi
    sleep 0.1
  done
}

# count FILE REGEX: lines of FILE matching REGEX.
count() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# shellcheck disable=SC2120 # the arguments are optional
# fixture_start [EXTRA ARGS]: serve $INV on 127.0.0.1:$FIXTURE_PORT (0 = any free port).
fixture_start() {
  rm -f "$KT/ready"
  python3 "$ROOT/scripts/lib/lab_apiserver.py" serve --inventory "$INV" --listen "127.0.0.1:$FIXTURE_PORT" \
    --tls-dir "$KT/tls" --kubeconfig-out "$KUBECONFIG_FILE" --ready-file "$KT/ready" --access-log \
    --bookmark-interval 1 "$@" >>"$KT/apiserver.log" 2>&1 &
  FIXTURE_PID=$!
  local deadline=$((SECONDS + 30))
  until [[ -s $KT/ready ]]; do
    kill -0 "$FIXTURE_PID" 2>/dev/null || fail "the API server fixture exited: $(tail -n 3 "$KT/apiserver.log")"
    ((SECONDS < deadline)) || fail "the API server fixture did not get ready"
    sleep 0.1
  done
  FIXTURE_PORT=$(sed -E 's/.*:([0-9]+)$/\1/' "$KT/ready")
}

fixture_stop() {
  [[ -n $FIXTURE_PID ]] || return 0
  kill "$FIXTURE_PID" 2>/dev/null || true
  wait "$FIXTURE_PID" 2>/dev/null || true
  FIXTURE_PID=
}

fixture_fault() { python3 "$ROOT/scripts/lib/lab_apiserver.py" fault --kubeconfig "$KUBECONFIG_FILE" "$1" >/dev/null; }

# The fixture has taken in an inventory with N pods.
wait_fixture_pods() { wait_for "$KT/apiserver.log" "inventory .*: [0-9]+ nodes, $1 pods, resourceVersion" "${2:-30}"; }

# add_pod NAME IP: a pod on node2 like the sample's first one, with its own uid, IP and a
# container "app" whose id is derived from NAME.
add_pod() {
  local uid cid
  uid=$(printf '%s' "$1" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
  cid=$(printf '%s/app' "$1" | sha256sum | cut -c1-64)
  jq --arg name "$1" --arg ip "$2" --arg uid "$uid" --arg cid "$cid" \
    '.pods += [(.pods[0] | .name = $name | .uid = $uid | .ip = $ip | .node = "node2"
                | .containers = [.containers[0] | .name = "app" | .id = $cid])]' "$INV" >"$INV.tmp"
  mv "$INV.tmp" "$INV"
}

del_pod() {
  jq --arg name "$1" '.pods |= map(select(.name != $name))' "$INV" >"$INV.tmp"
  mv "$INV.tmp" "$INV"
}

cp "$ROOT/tests/unit/data/lab_inventory.json" "$INV"
