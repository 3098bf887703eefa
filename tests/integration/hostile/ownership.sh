# Hostile cases of issue 15 about who owns podpath's attachments and how podpath starts and
# stops: two podpaths at once, SIGPIPE/SIGHUP/SIGQUIT, a stdout that cannot be written, a
# signal during attach, kill -9 then `podpath cleanup`, the lab recreated under a trace, a
# foreign filter in podpath's slot, a tcx and a clsact run started together, libbpf noise.
# Sourced by tests/integration/hostile_test.sh.
# shellcheck shell=bash

DEFAULT_PRIO=28784

# ---------------------------------------------------------------------------- item 2
hostile_case two_podpaths
hostile_two_podpaths() {
  hostile_lab
  local pair
  for pair in "tcx tcx" "clsact tcx" "tcx clsact" "clsact clsact"; do
    # shellcheck disable=SC2086  # two words on purpose
    two_podpaths_pair $pair
  done
}

two_podpaths_pair() {
  local m1=$1 m2=$2 one two f1=$TMP/first.ndjson f2=$TMP/second.ndjson
  local -a extra=()
  [[ $m1 == clsact && $m2 == clsact ]] && extra=(--tc-priority $((DEFAULT_PRIO + 1)))
  start_podpath "$f1" trace --lab "$L" --attach "$m1" --output json --interval 0.3
  one=$LAST_PID
  start_podpath "$f2" trace --lab "$L" --attach "$m2" --output json --interval 0.3 "${extra[@]}"
  two=$LAST_PID
  ping_from "$A_NAME" "$C_IP" 10
  check_eq "$m1 + $m2: the first run counts the ping" 10 "$(wait_packets "$f1" "$A_IP" "$C_IP" 10)"
  check_eq "$m1 + $m2: the second run counts the same ping" 10 "$(wait_packets "$f2" "$A_IP" "$C_IP" 10)"
  check_eq "$m1 + $m2: the first run saw it at its twelve hops" 12 "$(observed_hops "$f1" "$A_IP" "$C_IP")"
  check_eq "$m1 + $m2: every hop of the first run counted 10" "[10]" "$(hop_counts "$f1" "$A_IP" "$C_IP")"
  check_eq "$m1 + $m2: every hop of the second run counted 10" "[10]" "$(hop_counts "$f2" "$A_IP" "$C_IP")"
  stop_podpath "$two" TERM
  check_eq "$m1 + $m2: the second run stops cleanly" 0 "$STOP_RC"
  ping_from "$A_NAME" "$C_IP" 10
  check_eq "$m1 + $m2: after the second stopped, the first still counts" 20 \
    "$(wait_packets "$f1" "$A_IP" "$C_IP" 20)"
  # The second ping is a flow of its own (another ICMP id): two flows, 10 at each hop of each.
  check_eq "$m1 + $m2: ... at every hop of both pings" "[10]" "$(hop_counts "$f1" "$A_IP" "$C_IP")"
  check_eq "$m1 + $m2: ... twelve hops each" 24 "$(observed_hops "$f1" "$A_IP" "$C_IP")"
  stop_podpath "$one" TERM
  check_eq "$m1 + $m2: the first run stops cleanly" 0 "$STOP_RC"
  check_eq "$m1 + $m2: no podpath filter left on node1 eth0" 0 "$(podpath_filters "$N1" eth0)"
  check "$m1 + $m2: no second run's complaint about stale filters" \
    bash -c "! grep -q 'stale podpath' '$f2.err'"
}

# ---------------------------------------------------------------------------- item 1
hostile_case sigpipe
hostile_sigpipe() {
  hostile_lab
  local -a rcs
  set +e
  timeout 60 "$PODPATH" trace --lab "$L" --attach clsact --output json --interval 0.2 2>"$TMP/pipe.err" |
    head -c 100 >/dev/null
  rcs=("${PIPESTATUS[@]}")
  set -e
  check_eq "trace | head -c 100: podpath stops cleanly when the reader goes" 0 "${rcs[0]}"
  check_eq "and leaves no filter on node1 eth0" 0 "$(podpath_filters "$N1" eth0)"
  check_eq "nor on node1 cbr0" 0 "$(podpath_filters "$N1" cbr0)"
  check "and says nothing about it" bash -c "! grep -qi 'error' '$TMP/pipe.err'"
  scrub_leftovers
}

hostile_case hangup_quit
hostile_hangup_quit() {
  hostile_lab
  local sig
  for sig in HUP QUIT; do
    start_podpath "$TMP/sig.txt" trace --lab "$L" --attach clsact
    check_eq "SIG$sig: attached (two filters on node1 eth0)" 2 "$(podpath_filters "$N1" eth0)"
    stop_podpath "$LAST_PID" "$sig"
    check_eq "SIG$sig stops trace cleanly, like SIGTERM" 0 "$STOP_RC"
    check_eq "SIG$sig: no filter left on node1 eth0" 0 "$(podpath_filters "$N1" eth0)"
    scrub_leftovers
  done
}

# ---------------------------------------------------------------------------- item 17 (stdout)
hostile_case full_stdout
hostile_full_stdout() {
  hostile_lab
  local rc=0 full
  full=$(full_device "$TMP/full")
  timeout 60 "$PODPATH" trace --lab "$L" --attach clsact --output json --interval 0.2 >"$full" \
    2>"$TMP/full.err" || rc=$?
  check_eq "trace >/dev/full fails" 2 "$rc"
  check "and says why" grep -q "podpath trace: cannot write the output: No space left on device" "$TMP/full.err"
  check_eq "and detaches" 0 "$(podpath_filters "$N1" eth0)"
  rc=0
  "$PODPATH" pods --lab "$L" >"$full" 2>"$TMP/full-pods.err" || rc=$?
  check_eq "pods >/dev/full fails too" 2 "$rc"
  check "and says why" grep -q "podpath pods: cannot write the output" "$TMP/full-pods.err"
  scrub_leftovers
}

# ---------------------------------------------------------------------------- item 19 (signal)
hostile_case interrupt_attach
hostile_interrupt_attach() {
  hostile_lab
  local pid rc=0 _ t0 ms
  "$PODPATH" trace --lab "$L" --attach clsact >/dev/null 2>"$TMP/int.err" &
  pid=$!
  PODPATH_PIDS+=("$pid")
  # Ctrl-C as soon as the first filter is in place, while podpath attaches the rest.
  for _ in $(seq 2000); do
    [[ $(podpath_filters "$N1" eth0) -gt 0 || $(podpath_filters "$N2" eth0) -gt 0 ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.005
  done
  t0=$(date +%s%N)
  kill -INT "$pid"
  wait "$pid" || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if grep -q "stopped by a signal while attaching" "$TMP/int.err"; then
    pass "Ctrl-C during attach: stopped there (exit $rc, ${ms} ms after the signal)"
    check_eq "and the exit status says it did not run" 2 "$rc"
  else
    check_eq "Ctrl-C right after attach: a clean stop (exit $rc, ${ms} ms after the signal)" 0 "$rc"
  fi
  check_eq "nothing left on node1 eth0" 0 "$(podpath_filters "$N1" eth0)"
  check_eq "nothing left on node2 eth0" 0 "$(podpath_filters "$N2" eth0)"
  scrub_leftovers
}

# ---------------------------------------------------------------------------- item 1 (cleanup)
hostile_case cleanup_after_kill
hostile_cleanup_after_kill() {
  hostile_lab
  local out rc=0 live
  start_podpath "$TMP/k.txt" trace --lab "$L" --attach clsact
  kill -KILL "$LAST_PID"
  wait "$LAST_PID" 2>/dev/null || true
  check_eq "kill -9 leaves the classic filters on node1 eth0" 2 "$(podpath_filters "$N1" eth0)"
  check "and the clsact qdisc podpath created on node1 cbr0" \
    bash -c "ip netns exec $N1 tc qdisc show dev cbr0 | grep -q clsact"
  out=$("$PODPATH" cleanup --dry-run) || rc=$?
  check_eq "cleanup --dry-run succeeds" 0 "$rc"
  check "it names what it would remove" grep -q "would remove podpath's 2 TC filter(s) on eth0" <<<"$out"
  check_eq "and removes nothing" 2 "$(podpath_filters "$N1" eth0)"

  # A live run (another priority) while cleaning up: its filters are its own.
  start_podpath "$TMP/live.txt" trace --lab "$L" --attach clsact --tc-priority $((DEFAULT_PRIO + 2))
  live=$LAST_PID
  rc=0
  out=$("$PODPATH" cleanup) || rc=$?
  check_eq "cleanup succeeds" 0 "$rc"
  check "it says what it removed" grep -q "removed podpath's 2 TC filter(s) on eth0" <<<"$out"
  check "it leaves the live run alone, and says so" grep -q "podpath run(s) alive (pid $live)" <<<"$out"
  check_eq "only the live run's filters are left on node1 eth0" 2 "$(podpath_filters "$N1" eth0)"
  check "at the live run's priority" \
    bash -c "ip netns exec $N1 tc filter show dev eth0 ingress | grep -q 'pref $((DEFAULT_PRIO + 2)) bpf'"
  stop_podpath "$live" TERM
  check_eq "the live run stops cleanly" 0 "$STOP_RC"

  # Killed once more, nobody else around: filters and the qdiscs it created go.
  start_podpath "$TMP/k2.txt" trace --lab "$L" --attach clsact
  kill -KILL "$LAST_PID"
  wait "$LAST_PID" 2>/dev/null || true
  "$PODPATH" cleanup >"$TMP/cleanup.out"
  check_eq "cleanup removes every filter of the killed run" 0 "$(podpath_filters "$N1" cbr0)"
  check "and the clsact qdisc it created on node1 cbr0" \
    bash -c "! ip netns exec $N1 tc qdisc show dev cbr0 | grep -q clsact"
  check "cleanup once more: nothing to do" grep -q "nothing to clean up" <<<"$("$PODPATH" cleanup)"
  check "cleanup --help explains it" grep -q "by BPF program id" <<<"$("$PODPATH" cleanup --help)"
}

# ---------------------------------------------------------------------------- item 18 (attach)
hostile_case foreign_filter_in_slot
hostile_foreign_filter_in_slot() {
  hostile_lab
  local foreign=${FOREIGN_TC_OBJ:-$ROOT/build/tests/integration/foreign_tc.bpf.o} out rc=0
  [[ -f $foreign ]] || { fail "$foreign not built"; return; }
  ip netns exec "$N1" tc qdisc replace dev eth0 clsact
  ip netns exec "$N1" tc filter add dev eth0 ingress prio $DEFAULT_PRIO handle 0x7070 bpf da obj "$foreign" sec tc
  out=$("$PODPATH" trace --lab "$L" --attach clsact --once 2>&1) || rc=$?
  check_eq "a foreign filter in podpath's slot: refused" 2 "$rc"
  check "the message names the node and interface" grep -q "node node1: cannot attach to eth0" <<<"$out"
  check "the program by name and id" grep -qE "BPF program 'foreign_tc' \(id [0-9]+\)" <<<"$out"
  check "the slot" grep -q "priority $DEFAULT_PRIO, handle 0x7070" <<<"$out"
  check "and what to do" grep -q "another --tc-priority, or with --attach tcx" <<<"$out"
  check_eq "nothing of podpath is left on node1 cbr0" 0 "$(podpath_filters "$N1" cbr0)"
  rc=0
  "$PODPATH" trace --lab "$L" --attach tcx --once >/dev/null 2>&1 || rc=$?
  check_eq "tcx is not in the way of classic filters" 0 "$rc"
  ip netns exec "$N1" tc qdisc del dev eth0 clsact
}

# ---------------------------------------------------------------------------- item 19 (race, noise)
hostile_case start_race
hostile_start_race() {
  hostile_lab
  local i a b ra rb refused=0
  for i in $(seq 8); do
    "$PODPATH" trace --lab "$L" --attach tcx --once --interval 0.1 >/dev/null 2>"$TMP/race-tcx.$i" &
    a=$!
    "$PODPATH" trace --lab "$L" --attach clsact --once --interval 0.1 >/dev/null 2>"$TMP/race-clsact.$i" &
    b=$!
    ra=0 rb=0
    wait "$a" || ra=$?
    wait "$b" || rb=$?
    if [[ $ra -ne 0 || $rb -ne 0 ]]; then
      refused=$((refused + 1))
      cat "$TMP/race-tcx.$i" "$TMP/race-clsact.$i"
    fi
  done
  check_eq "a tcx and a clsact run started together, 8 times: none refused" 0 "$refused"
  check_eq "nothing left on node1 eth0" 0 "$(podpath_filters "$N1" eth0)"
}

hostile_case libbpf_noise
hostile_libbpf_noise() {
  hostile_lab
  local mode rc
  ip netns exec "$N1" tc qdisc replace dev eth0 clsact  # an empty qdisc someone left
  for mode in tcx clsact; do
    rc=0
    "$PODPATH" trace --lab "$L" --attach "$mode" --once --interval 0.1 >/dev/null 2>"$TMP/noise.$mode" || rc=$?
    check_eq "$mode run beside an empty clsact qdisc" 0 "$rc"
    check "$mode: no libbpf warnings" bash -c "! grep -q libbpf '$TMP/noise.$mode'"
  done
  ip netns exec "$N1" tc qdisc del dev eth0 clsact
}

# ---------------------------------------------------------------------------- item 15
hostile_case lab_recreated
hostile_lab_recreated() {
  local lr=hr out t rc=0 _ a_name a_ip c_ip
  lab_up $lr
  out=$TMP/recreated.ndjson
  start_podpath "$out" trace --lab $lr --output json --interval 0.3
  t=$LAST_PID
  "$LAB" down --name $lr >/dev/null 2>&1
  "$LAB" up --name $lr >"$TMP/re-up.log" 2>&1 || { cat "$TMP/re-up.log"; fail "lab up again"; return; }
  for _ in $(seq 300); do
    [[ $(grep -c "was created anew; podpath attached there" "$out.err" || true) -ge 2 ]] && break
    kill -0 "$t" 2>/dev/null || break
    sleep 0.1
  done
  check_eq "the trace says it attached to both new node namespaces" 2 \
    "$(grep -c "was created anew; podpath attached there" "$out.err" || true)"
  a_name=$(pod_field $lr node1 0 name)
  a_ip=$(pod_field $lr node1 0 ip)
  c_ip=$(pod_field $lr node2 0 ip)
  ping_from "$a_name" "$c_ip" 10 $lr
  check_eq "it counts the recreated lab's traffic" 10 "$(wait_packets "$out" "$a_ip" "$c_ip" 10)"
  check_eq "at every hop" "[10]" "$(hop_counts "$out" "$a_ip" "$c_ip")"
  check_eq "twelve hops seen" 12 "$(observed_hops "$out" "$a_ip" "$c_ip")"

  "$LAB" down --name $lr >/dev/null 2>&1
  for _ in $(seq 600); do
    kill -0 "$t" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$t" 2>/dev/null; then
    fail "after 'lab down' the trace still runs a minute later"
    stop_podpath "$t" TERM
  else
    wait "$t" || rc=$?
    check_eq "after 'lab down' the trace stops with an error" 2 "$rc"
    check_eq "saying so once" 1 "$(grep -c "is gone and the inventory names no new one" "$out.err" || true)"
  fi
  check "it warned once per node while waiting, not every second" \
    test "$(grep -c "podpath waits for the inventory" "$out.err" || true)" -le 4
}
