# shellcheck shell=bash
# scripts/lib/lab_procs.sh — stopping process trees. Self-contained (bash builtins, /proc
# and sleep only), so that anything may source it: scripts/lab stops the workers of a
# failed 'up' and the clients and servers of 'traffic' with it, the integration tests
# (tests/integration/lib.sh) the processes they started in the lab.

# collect_tree PID...: set TREE to the pids and all their descendants (from
# /proc/PID/task/*/children; builtins only, as this runs while cleaning up).
collect_tree() {
  local -a queue=("$@") kids
  local p f
  TREE=()
  while (( ${#queue[@]} )); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    TREE+=("$p")
    for f in /proc/"$p"/task/*/children; do
      [[ -r $f ]] || continue
      kids=()
      { read -r -a kids <"$f"; } 2>/dev/null || true
      queue+=("${kids[@]}")
    done
  done
}

# kill_trees PID...: stop the processes and all their descendants: SIGTERM, then SIGKILL
# what is left (and what was forked meanwhile) 0.2 s later.
kill_trees() {
  (( $# )) || return 0
  collect_tree "$@"
  kill -TERM "${TREE[@]}" 2>/dev/null || true
  sleep 0.2
  collect_tree "$@"
  kill -KILL "${TREE[@]}" 2>/dev/null || true
}
