# Hostile cases of issue 15 about what podpath is given: names with escape sequences or
# bytes that are not UTF-8, an inventory that points at the host's namespace, /dev/zero as
# the inventory, a --ready-file on /dev/full, exactly the documented capabilities, and a check
# while the lab's pods change. Sourced by tests/integration/hostile_test.sh.
#
# PODPATH_ASAN_BIN: a podpath built with -DPODPATH_SANITIZE=ON; check_during_churn runs it
# (the use-after-free of item 11 is only certain to show under AddressSanitizer) and uses the
# normal binary without it.
# shellcheck shell=bash
# shellcheck disable=SC2016  # jq filters in single quotes, with jq's own $variables

ESC=$'\033'

# A copy of the shared lab's inventory with one jq edit: prints its path.
edited_inventory() {  # edited_inventory NAME JQ-FILTER [--arg K V]...
  local out=$TMP/$1.json filter=$2
  shift 2
  jq "$@" "$filter" "$(inventory_of "$L")" >"$out"
  echo "$out"
}

# True when FILE holds no ESC byte (nor a C1 CSI, U+009B).
no_escape() { ! grep -q "$ESC" "$1" && ! grep -qP '\xc2\x9b' "$1"; }

# ------------------------------------------------------------------------ item 12 strings
hostile_case escape_names
hostile_escape_names() {
  hostile_lab
  # A name the kernel accepts (no '/', ':' or white space) that would clear the screen and
  # retitle the terminal, and one that is not UTF-8. A pod with CAP_NET_ADMIN in its own
  # namespace, or a CNI plugin, names interfaces; here they sit in node1's namespace.
  local evil="e${ESC}]0;pwn"$'\a'"${ESC}[2J" bad=$'bad\xff\xfe'
  ip -n "$N1" link add "$evil" type veth peer name "$bad"
  ip -n "$N1" link set "$evil" up
  ip -n "$N1" link set "$bad" up
  ip -n "$N1" route add 192.0.2.0/24 dev "$evil"
  ip -n "$N1" route add 198.51.100.0/24 dev "$bad"

  local rc=0
  "$PODPATH" routes --lab "$L" >"$TMP/routes.txt" 2>"$TMP/routes.err" || rc=$?
  check_eq "routes with hostile interface names exits 0" 0 "$rc"
  check "routes shows the name escaped" grep -qF 'e\x1b]0;pwn\x07\x1b[2J' "$TMP/routes.txt"
  check "routes prints no escape sequence" no_escape "$TMP/routes.txt"
  rc=0
  "$PODPATH" routes --lab "$L" -o json >"$TMP/routes.json" 2>"$TMP/routes-json.err" || rc=$?
  check_eq "routes -o json with a name that is not UTF-8 exits 0" 0 "$rc"
  check "... and prints valid JSON" jq empty "$TMP/routes.json"
  check "... with U+FFFD for the bad bytes" grep -qF 'bad��' "$TMP/routes.json"

  # Attached to them (--iface): trace's table, its JSON and debug dump stay clean too.
  rc=0
  "$PODPATH" trace --lab "$L" --iface 'e*' --iface 'bad*' --once >"$TMP/trace.txt" 2>"$TMP/trace.err" || rc=$?
  check_eq "trace --once on hostile interfaces exits 0" 0 "$rc"
  check "trace prints no escape sequence" no_escape "$TMP/trace.txt"
  check "trace logs no escape sequence" no_escape "$TMP/trace.err"
  rc=0
  "$PODPATH" debug dump --lab "$L" --iface 'e*' --iface 'bad*' >"$TMP/dump.txt" 2>"$TMP/dump.err" || rc=$?
  check_eq "debug dump exits 0" 0 "$rc"
  check "debug dump names the interface escaped" grep -qF 'name=e\x1b]0;pwn' "$TMP/dump.txt"
  check "debug dump prints no escape sequence" no_escape "$TMP/dump.txt"
  ip -n "$N1" link del "$evil"

  # A pod name with an escape sequence in the inventory is refused, in a printable message.
  local inv
  inv=$(edited_inventory escape-pod '.pods[0].name = $n' --arg n "web${ESC}[31m")
  rc=0
  "$PODPATH" pods --inventory "$inv" >"$TMP/pods.txt" 2>"$TMP/pods.err" || rc=$?
  check_eq "pods with an escape sequence in a pod name exits 2" 2 "$rc"
  check "... naming the field" grep -qF ".pods[0].name 'web\x1b[31m' is not a valid name" "$TMP/pods.err"
  check "... in a message without the escape" no_escape "$TMP/pods.err"
}

# ------------------------------------------------------------------------------- item 16
hostile_case empty_netns
hostile_empty_netns() {
  hostile_lab
  local inv rc value before
  before=$(tc filter show dev "$(ip -o route show default | awk '{print $5; exit}')" ingress 2>/dev/null | grep -c pp_tc_ || true)
  for value in "" /proc/self/ns/net /proc/1/ns/net; do
    inv=$(edited_inventory "netns" '.nodes[0].netns = $v' --arg v "$value")
    rc=0
    "$PODPATH" trace --inventory "$inv" --once >"$TMP/ns.out" 2>"$TMP/ns.err" || rc=$?
    check_eq "trace with node netns '$value' exits 2" 2 "$rc"
    check "... and says why (.nodes[0].netns)" grep -qF '.nodes[0].netns' "$TMP/ns.err"
  done
  check_eq "nothing attached in the host's namespace" "$before" \
    "$(tc filter show dev "$(ip -o route show default | awk '{print $5; exit}')" ingress 2>/dev/null | grep -c pp_tc_ || true)"
  inv=$(edited_inventory dup-ip '.pods[1].ip = .pods[0].ip')
  rc=0
  "$PODPATH" pods --inventory "$inv" >/dev/null 2>"$TMP/dup.err" || rc=$?
  check_eq "two pods with one IP exits 2" 2 "$rc"
  check "... naming both" grep -qF '.pods[1].ip repeats the address' "$TMP/dup.err"
  rc=0
  "$PODPATH" pods --lab ../../etc >/dev/null 2>"$TMP/lab.err" || rc=$?
  check_eq "--lab ../../etc exits 2" 2 "$rc"
  check "... because --lab takes a lab's name" grep -qF -- "--lab takes a lab's name" "$TMP/lab.err"
}

# ------------------------------------------------------------------------------- item 17
hostile_case dev_zero_inventory
hostile_dev_zero_inventory() {
  local rc=0
  timeout 20 "$PODPATH" pods --inventory /dev/zero >/dev/null 2>"$TMP/zero.err" || rc=$?
  check_eq "pods --inventory /dev/zero exits 2 (not killed by the timeout)" 2 "$rc"
  check "... saying it is a character device" grep -qF '/dev/zero: it is a character device' "$TMP/zero.err"
  mkfifo "$TMP/fifo.json"
  rc=0
  timeout 20 "$PODPATH" pods --inventory "$TMP/fifo.json" >/dev/null 2>"$TMP/fifo.err" || rc=$?
  check_eq "a FIFO as the inventory exits 2 without waiting for a writer" 2 "$rc"
  check "... saying it is a FIFO" grep -qF 'it is a FIFO' "$TMP/fifo.err"
}

hostile_case ready_file_full
hostile_ready_file_full() {
  hostile_lab
  local rc=0 full
  full=$(full_device "$TMP/full")
  timeout 60 "$PODPATH" trace --lab "$L" --once --ready-file "$full" >/dev/null 2>"$TMP/ready.err" || rc=$?
  check_eq "trace --ready-file on a full device exits 2" 2 "$rc"
  check "... saying it cannot write it" grep -qF "cannot write --ready-file $full" "$TMP/ready.err"
  check "the device is still the device" test -c "$full"
  check "no $full.tmp left" test ! -e "$full.tmp"
}

# ------------------------------------------------------------------------------- item 14
# The capabilities README.md documents ("Requirements"): CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON,
# CAP_SYS_ADMIN and, for check, CAP_NET_RAW (CAP_SYS_PTRACE too for shared-ip --probe). With one fewer, doctor and the
# failing command name the missing one.
with_caps() {  # with_caps CAPS COMMAND...: COMMAND as root holding exactly CAPS (setpriv syntax)
  local caps=$1
  shift
  setpriv --inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" -- "$@"
}

hostile_case exact_capabilities
hostile_exact_capabilities() {
  hostile_lab
  if ! command -v setpriv >/dev/null; then
    fail "setpriv (util-linux) is missing"
    return
  fi
  local three=+bpf,+net_admin,+perfmon documented=+bpf,+net_admin,+perfmon,+sys_admin,+net_raw rc
  rc=0
  with_caps "$three" "$PODPATH" doctor >"$TMP/doctor3.txt" 2>&1 || rc=$?
  check_eq "doctor with CAP_BPF+CAP_NET_ADMIN+CAP_PERFMON is not ready" 1 "$rc"
  check "... it names CAP_SYS_ADMIN for trace" grep -qF 'CAP_SYS_ADMIN is missing: entering a lab node' "$TMP/doctor3.txt"
  check "... and says pods can run" grep -qE '^ready: +pods$' "$TMP/doctor3.txt"
  rc=0
  with_caps "$three" "$PODPATH" trace --lab "$L" --once >/dev/null 2>"$TMP/trace3.err" || rc=$?
  check_eq "trace without CAP_SYS_ADMIN exits 2" 2 "$rc"
  check "... naming CAP_SYS_ADMIN" grep -qF 'needs CAP_SYS_ADMIN' "$TMP/trace3.err"
  check_eq "... with the errno text once" 1 "$(grep -o 'Operation not permitted' "$TMP/trace3.err" | wc -l)"
  rc=0
  with_caps "$three" "$PODPATH" shared-ip --lab "$L" --probe "$A_NAME" >"$TMP/sip3.txt" 2>"$TMP/sip3.err" || rc=$?
  check "shared-ip --probe without the capability says the probe could not run" \
    grep -qF 'the probe could not run in it' "$TMP/sip3.txt"
  check "... instead of asking for --probe" bash -c "! grep -qF 'run with --probe' '$TMP/sip3.txt'"

  rc=0
  with_caps "$documented" "$PODPATH" doctor >"$TMP/doctor4.txt" 2>&1 || rc=$?
  check "doctor with the documented capabilities: trace can run" \
    grep -qE '^ready: +trace, paths, matrix, debug dump$' "$TMP/doctor4.txt"
  check "... and check can run" grep -qE '^ready: +check$' "$TMP/doctor4.txt"
  rc=0
  with_caps "$documented" "$PODPATH" trace --lab "$L" --once >/dev/null 2>"$TMP/trace4.err" || rc=$?
  check_eq "trace with the documented capabilities exits 0" 0 "$rc"
  rc=0
  with_caps "$documented" "$PODPATH" check --lab "$L" "$A_NAME" "$C_NAME" >"$TMP/check4.txt" 2>&1 || rc=$?
  check_eq "check with the documented capabilities: reachable" 0 "$rc"
}

# ------------------------------------------------------------------------------- item 11
hostile_case check_during_churn
hostile_check_during_churn() {
  # A lab of its own: the pods added here stay until it goes down.
  local lab=hc bin=${PODPATH_ASAN_BIN:-$PODPATH} adder i rc bad=0 asan=0
  lab_up "$lab"
  local a c
  a=$(pod_field "$lab" node1 0 name)
  c=$(pod_field "$lab" node2 0 name)
  # The lab rewrites its inventory for every pod it adds; each check reloads it mid-probe.
  (
    for i in $(seq 6); do "$LAB" add-pod --name "$lab" --node $((i % 2 + 1)) --containers 1 >/dev/null 2>&1 || exit 1; done
  ) &
  adder=$!
  for i in $(seq 6); do
    rc=0
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 "$bin" check --lab "$lab" "$a" "$c" --output json \
      >"$TMP/churn-$i.json" 2>"$TMP/churn-$i.err" || rc=$?
    grep -q AddressSanitizer "$TMP/churn-$i.err" && asan=$((asan + 1))
    if [[ $rc -ne 0 ]] || ! jq -e '.reachable == true' "$TMP/churn-$i.json" >/dev/null; then
      bad=$((bad + 1))
      sed 's/^/    /' "$TMP/churn-$i.err" | head -20
    fi
  done
  rc=0
  wait "$adder" || rc=$?
  check_eq "scripts/lab add-pod ran six times meanwhile" 0 "$rc"
  check_eq "no AddressSanitizer report from check during churn ($(basename "$bin"))" 0 "$asan"
  check_eq "every check during churn judged the pair reachable" 0 "$bad"
  check "the inventory grew by six pods" test "$(jq '.pods | length' "$(inventory_of "$lab")")" -eq 10
}
