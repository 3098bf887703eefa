# shellcheck shell=bash
# Helpers of the agent's integration tests (sourced after lib.sh): agents started inside a
# lab node's network namespace, requests over their unix socket (how the root namespace
# reaches them) or from inside a lab namespace, and raw requests for what curl will not send.
#
#   in_ns NS CMD...                  run CMD in lab namespace NS (network only)
#   start_agent LAB NODE OUT ARGS... podpath agent --lab LAB --node NODE ARGS... inside NODE's
#                                    namespace, in the background (lib.sh's start_podpath: waits
#                                    for its ready file, sets LAST_PID, adds it to PODPATH_PIDS)
#   start_agent_with PREFIX... @ LAB NODE OUT ARGS...
#                                    the same, run under PREFIX (e.g. capsh ... -c ...) inside the namespace
#   api SOCK PATH                    GET PATH over the unix socket SOCK; the body on stdout, fails on >= 400
#   status_of SOCK PATH [CURL_ARG...]  the HTTP status of GET PATH over SOCK
#   raw_request SOCK TEXT            send TEXT (with \r\n escapes) over SOCK, print the answer

in_ns() {
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" -- "$@"
}

start_agent_with() {
  local -a prefix=()
  while [[ $1 != @ ]]; do prefix+=("$1"); shift; done
  shift
  local lab=$1 node=$2 out=$3
  shift 3
  # shellcheck disable=SC2034  # read by start_podpath (lib.sh)
  PODPATH_PREFIX=(nsenter --net="/run/netns/$lab-$node" -- "${prefix[@]}")
  local rc=0
  start_podpath "$out" agent --lab "$lab" --node "$node" "$@" || rc=$?
  # shellcheck disable=SC2034
  PODPATH_PREFIX=()
  return "$rc"
}

start_agent() { start_agent_with @ "$@"; }

api() { curl -fsS --max-time 10 --unix-socket "$1" "http://agent$2"; }

status_of() {
  local sock=$1 path=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$sock" "$@" "http://agent$path"
}

raw_request() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.settimeout(5)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except socket.timeout:
    pass
print(out.decode(errors="replace"))
PY
}
