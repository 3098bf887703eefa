#!/usr/bin/env bash
# Integration test of the full-screen view of `podpath trace` (docs/live-view.md) on the
# lab: podpath runs in tmux, as a user would run it from a shell, at 80x24 and at 200x60,
# while a node1 pod pings a node2 pod and another node1 pod. The test sends keys and reads
# the screen with capture-pane. It checks that
#   - the header is visible and every line fits the width (no line cut by the terminal);
#   - selecting the cross-node conversation shows its six observed hops;
#   - a filter narrows the list, a bad one is refused with its error and the old one kept;
#   - the view follows a resize of the terminal;
#   - q, Ctrl-C and SIGTERM each end it with exit code 0, the terminal restored (alternate
#     screen left, cursor shown, echo and canonical mode back) and no podpath TC filter or
#     program left;
#   - NO_COLOR leaves colours out; TERM=dumb gets the plain snapshots.
#
#   tests/integration/live_view_test.sh [REPO_ROOT]      (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
require_root_and_tools tmux bpftool
export LC_ALL=C.UTF-8 # ${#line} counts characters, not bytes

# A tmux server of our own, its socket in $TMP (removed on exit).
tmx() { tmux -u -S "$TMP/tmux.sock" -f "$TMP/tmux.conf" "$@"; }
stop_tmux() { tmx kill-server 2>/dev/null || true; }
register_cleanup stop_tmux
# One server for the whole test: it must not exit between two views (a command sent
# while it exits fails with "server exited unexpectedly").
echo "set -g exit-empty off" >"$TMP/tmux.conf"
tmx start-server

L="lv"
lab_up "$L"
N1=$L-node1
A_NAME=$(pod_field $L node1 0 name) # node1 pod: pings the two others
B_IP=$(pod_field $L node1 1 ip)     # node1 pod
C_IP=$(pod_field $L node2 0 ip)     # node2 pod
A_VETH=$(pod_field $L node1 0 veth)
C_VETH=$(pod_field $L node2 0 veth)
echo "pods: $A_NAME ($A_VETH) pings $C_IP (node2, $C_VETH) and $B_IP (node1)"

phase "traffic: $A_NAME pings a node2 pod and a node1 pod for the whole test"
for dst in "$C_IP" "$B_IP"; do
  "$LAB" exec --name $L "$A_NAME" -- ping -q -i 0.2 -w 600 "$dst" >/dev/null 2>&1 &
  PODPATH_PIDS+=("$!")
done

# ---------------------------------------------------------------------------- helpers

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s; false if it never succeeds.
wait_until() {
  local tries=$(($1 * 10))
  shift
  local _
  for _ in $(seq "$tries"); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# start_view COLS ROWS ENV ARGS...: a tmux session "live" with an interactive shell (env
# ENV), in which `podpath trace ARGS` runs, followed by an echo of its exit code. Waits
# until podpath is attached and its view is drawn (for TERM=dumb: attached).
start_view() {
  local cols=$1 rows=$2 env=$3
  shift 3
  READY=$TMP/ready.$RANDOM
  tmx new-session -d -s live -x "$cols" -y "$rows" \
    "env -i PATH=$PATH HOME=$TMP LANG=C.UTF-8 TERM=screen $env PS1='shell\$ ' bash --norc --noprofile -i"
  tmx send-keys -t live "$PODPATH trace --lab $L --interval 0.5 --ready-file $READY $* ; echo \"podpath-exit=\$?\"" Enter
  wait_until 30 test -f "$READY" || { echo "podpath did not get ready:"; screen; return 1; }
  VIEW_PID=$(pgrep -P "$(tmx display -p -t live '#{pane_pid}')" -x podpath || true)
}
stop_view() { tmx kill-session -t live 2>/dev/null || true; }

screen() { tmx capture-pane -p -t live; }
# check_screen DESCRIPTION COMMAND...: check, and show the screen when it fails.
check_screen() {
  local before=$FAILS
  check "$@"
  if [[ $FAILS -ne $before ]]; then echo "--- the screen:"; screen; echo "---"; fi
}
screen_escapes() { tmx capture-pane -p -e -t live; }
pane() { tmx display -p -t live "#{$1}"; }

# The header bar is drawn: "podpath trace · ..." ending with the time.
header_drawn() { screen | head -n 1 | grep -Eq '^ podpath trace · .* [0-9]{2}:[0-9]{2}:[0-9]{2}$'; }
# The view fits COLS x ROWS: exactly ROWS lines, none longer than COLS, the header ends
# with the clock, every conversation row (between the titles and the rule above the hop
# by hop view) ends with its packet count, and the status line is the last.
fits() {
  local cols=$1 rows=$2 s line n=0 list=1
  s=$(screen)
  [[ $(wc -l <<<"$s") -eq $rows ]] || return 1
  while IFS= read -r line; do
    n=$((n + 1))
    ((${#line} <= cols)) || return 1
    [[ $line == ─* ]] && list=0
    if ((n > 2 && list)) && [[ -n $line && $n -lt $rows && ! $line =~ (\ pkt|…)$ ]]; then return 1; fi
  done <<<"$s"
  head -n 1 <<<"$s" | grep -Eq ' [0-9]{2}:[0-9]{2}:[0-9]{2}$' && tail -n 1 <<<"$s" | grep -q ' conversation'
}
# The request hops of the selected conversation: the lines between the rule under the list
# and the first verdict, as "node iface direction" for hops with a packet count.
observed_request_hops() {
  screen | awk '/^─/ { on = 1; next } on && /^  ⇒/ { exit } on && $5 == "pkt" { print $1, $2, $3 }'
}
# The cross-node conversation is expanded: six hops seen, from A's veth to C's.
cross_node_expanded() {
  local hops
  hops=$(observed_request_hops)
  [[ $(wc -l <<<"$hops") -eq 6 && $(head -n 1 <<<"$hops") == "node1 $A_VETH ingress" &&
     $(tail -n 1 <<<"$hops") == "node2 $C_VETH egress" ]]
}
selected_row() { screen | grep '^▶' || true; }
selection_moved() { [[ $(selected_row) != "$SELECTED_BEFORE" ]]; }
# select_cross_node: j until the cross-node conversation is the expanded one. Both pings
# run at the same rate, so the two conversations may swap rows between refreshes: j on the
# last row (the selection follows its conversation) starts again from the top.
select_cross_node() {
  local _
  tmx send-keys -t live Home
  for _ in $(seq 12); do
    if wait_until 3 cross_node_expanded; then return 0; fi
    SELECTED_BEFORE=$(selected_row)
    tmx send-keys -t live j
    wait_until 2 selection_moved || tmx send-keys -t live Home
  done
  return 1
}
# Conversations the status line counts (the shown ones).
shown() { screen | tail -n 1 | grep -Eo '^ [0-9]+' | tr -d ' '; }
at_least_two_shown() { [[ $(shown) -ge 2 ]]; }
shown_is() { [[ $(shown) == "$1" ]]; }
status_has() { screen | tail -n 1 | grep -qF -- "$1"; }
header_has() { screen | head -n 1 | grep -qF -- "$1"; }
view_has() { screen | grep -q -- "$1"; }
coloured() { screen_escapes | grep -Eq $'\e\\[([0-9]+;)*3[1-6]m'; }
not_coloured() { ! coloured; }
no_escapes() { ! screen_escapes | grep -q $'\e'; }
exited() { screen | grep -q '^podpath-exit='; }
exit_code() { screen | grep -Eo '^podpath-exit=[0-9]+' | tail -n 1 | cut -d= -f2; }
stty_shown() { screen | grep -q '^stty='; }
shell_screen() { screen | grep -q '^podpath-exit=' && screen | grep -q '^shell\$' && ! screen | grep -Eq ' conversations? · sort'; }
# The terminal is back to normal: the shell's screen (not the alternate one), the cursor
# shown, echo and canonical input on (stty, run in that shell).
terminal_restored() {
  check_eq "$1: alternate screen left" 0 "$(pane alternate_on)"
  check_eq "$1: cursor shown" 1 "$(pane cursor_flag)"
  check_screen "$1: the shell's screen shows again (prompt, no view)" shell_screen
  tmx send-keys -t live "stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo | sort | paste -sd, - | sed 's/^/stty=/'" Enter
  wait_until 5 stty_shown || true
  check_eq "$1: echo and canonical input back on" "stty=echo,icanon" "$(screen | grep '^stty=' | tail -n 1)"
}

# ---------------------------------------------------------------------------- 80x24

phase "80x24, classic TC: header, widths, the cross-node conversation hop by hop"
start_view 80 24 "" --attach clsact
check_screen "header drawn" wait_until 10 header_drawn
check_eq "on the alternate screen" 1 "$(pane alternate_on)"
check_eq "podpath's filters on node1 eth0 (ingress, egress)" 2 "$(podpath_filters $N1 eth0)"
check_screen "both conversations listed" wait_until 10 at_least_two_shown
check_screen "every line fits 80 columns" fits 80 24
check_screen "selecting the cross-node conversation shows its six observed hops" select_cross_node
observed_request_hops | sed "s/^/      hop: /"
check "colours on (ANSI colour in the pane)" coloured

phase "80x24: a filter narrows the list; a bad one is refused and the old one kept"
before=$(shown)
tmx send-keys -t live / C-u
tmx send-keys -t live -l -- "--node node2"
tmx send-keys -t live Enter
check_screen "status line shows the filter" wait_until 5 status_has "filter: --node node2"
check "the list narrows ($before conversations before)" test "$(shown)" -lt "$before"
check_eq "one conversation left" 1 "$(shown)"
check_screen "and it is the cross-node one, still expanded" cross_node_expanded
tmx send-keys -t live / C-u
tmx send-keys -t live -l -- "--proto quic"
tmx send-keys -t live Enter
check_screen "a bad filter shows its error" wait_until 5 status_has "unknown protocol 'quic'"
tmx send-keys -t live Escape
check_screen "Esc: the old filter stays" wait_until 5 status_has "filter: --node node2"
check_eq "and still narrows" 1 "$(shown)"
tmx send-keys -t live / C-u Enter
check_screen "an empty filter shows all again" wait_until 5 shown_is "$before"

phase "resize 80x24 -> 200x60: the view follows"
tmx resize-window -t live -x 200 -y 60
check_screen "redrawn at 200x60" wait_until 5 fits 200 60
check_screen "the cross-node conversation still selected, six hops" wait_until 5 cross_node_expanded

phase "q quits: exit 0, terminal restored, filters gone"
tmx send-keys -t live q
check "podpath exits" wait_until 15 exited
check_eq "exit code" 0 "$(exit_code)"
terminal_restored "q"
check_eq "no podpath filter left on node1 eth0" 0 "$(podpath_filters $N1 eth0)"
check_eq "no podpath filter left on node1 cbr0" 0 "$(podpath_filters $N1 cbr0)"
stop_view

# ---------------------------------------------------------------------------- 200x60

phase "200x60, tcx: header, widths, hops; resize to 80x24; Ctrl-C"
start_view 200 60 ""
check_screen "header drawn" wait_until 10 header_drawn
check_screen "both conversations listed" wait_until 10 at_least_two_shown
check_screen "every line fits 200 columns" fits 200 60
check_screen "selecting the cross-node conversation shows its six observed hops" select_cross_node
check_screen "full pod names at 200 columns" view_has "^▶ default/$A_NAME "
check_screen "the compact path" view_has "^▶ .*  veth ▸ cbr0 ▸ eth0 ⇢ gw ⇢ eth0 ▸ cbr0 ▸ veth  "
tmx send-keys -t live p
check_screen "p pauses" wait_until 5 header_has "PAUSED"
tmx send-keys -t live p
tmx resize-window -t live -x 80 -y 24
check_screen "redrawn at 80x24" wait_until 5 fits 80 24
tmx send-keys -t live C-c
check "podpath exits on Ctrl-C" wait_until 15 exited
check_eq "exit code" 0 "$(exit_code)"
terminal_restored "Ctrl-C"
check "no podpath program left (tcx)" no_podpath_programs_left
stop_view

# ---------------------------------------------------------------------------- SIGTERM, NO_COLOR

phase "NO_COLOR, then SIGTERM"
start_view 100 30 "NO_COLOR=1"
check_screen "header drawn" wait_until 10 header_drawn
check_screen "both conversations listed" wait_until 10 at_least_two_shown
check "no colour with NO_COLOR" not_coloured
kill -TERM "$VIEW_PID"
check "podpath exits on SIGTERM" wait_until 15 exited
check_eq "exit code" 0 "$(exit_code)"
terminal_restored "SIGTERM"
check "no podpath program left" no_podpath_programs_left
stop_view

# ---------------------------------------------------------------------------- TERM=dumb

phase "TERM=dumb: the plain snapshots"
start_view 120 40 "TERM=dumb" --duration 2
check "podpath ends after --duration" wait_until 15 exited
check_eq "exit code" 0 "$(exit_code)"
check_eq "never on the alternate screen" 0 "$(pane alternate_on)"
check_screen "a plain snapshot with its health line" view_has '^health: '
check "no escape sequences on a dumb terminal" no_escapes
stop_view

check "nothing of the lab's podpath left" no_podpath_programs_left
finish
