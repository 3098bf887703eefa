# shellcheck shell=bash disable=SC2154  # lab, build, report: scripts/bench's
# scripts/lib/bench_agent.sh — the agent's figures for scripts/bench (bench_agent): one
# `podpath agent` on node1 of a 2-node lab, its CPU (user + system, ms per second) and
# memory (VmRSS) idle, with 10 000 and 100 000 UDP flows kept alive from a node1 pod to a
# node2 pod, and with 16 /v1/flows/stream clients reading while the 10 000 flows run.
# Sourced by scripts/bench after its helpers (cpu_ticks, medianf) and cleanup trap exist;
# uses its variables: root, lab, build, report, pids, scratch.

# bench_agent_flows POD DST_IP COUNT SECONDS: from POD, one UDP datagram to each of COUNT
# (destination port, source socket) pairs towards DST_IP, every 2 s for SECONDS: COUNT
# distinct flows that stay alive. Ports 1..50000 per source socket.
bench_agent_flows() {
  "$lab" exec --name "$BA_LAB" "$1" -- python3 -c '
import socket, sys, time
dst, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
per = 50000
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range((count + per - 1) // per)]
end = time.time() + seconds
while time.time() < end:
    t0 = time.time()
    for i in range(count):
        socks[i // per].sendto(b"x", (dst, 1 + i % per))
    time.sleep(max(0.0, 2.0 - (time.time() - t0)))
' "$2" "$3" "$4"
}

# bench_agent_sample PID SECONDS: "CPU_MS_PER_S RSS_MIB" of PID over SECONDS.
bench_agent_sample() {
  local t0 t1 hz rss
  hz=$(getconf CLK_TCK)
  t0=$(cpu_ticks "$1")
  sleep "$2"
  t1=$(cpu_ticks "$1")
  rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status")
  echo "$(( (t1 - t0) * 1000 / hz / $2 )) $rss"
}

# bench_agent_tracked SOCK: the agent's tracked flow directions.
bench_agent_tracked() { curl -s --max-time 10 --unix-socket "$1" http://agent/v1/node | jq -r '.flows.tracked // 0'; }

bench_agent() {
  local seconds=$1
  BA_LAB=benchag
  local dir sock ready agent src dst_ip n window=$(( seconds * 4 ))
  dir=$(mktemp -d)
  scratch+=("$dir")
  sock=$dir/agent.sock
  ready=$dir/ready
  echo "bench: agent: lab up" >&2
  "$lab" up --name "$BA_LAB" --nodes 2 --pods-per-node 1 >/dev/null
  local inv=/run/podpath-lab/$BA_LAB/inventory.json
  src=$(jq -r '.pods[] | select(.node == "node1") | .name' "$inv" | head -1)
  dst_ip=$(jq -r '.pods[] | select(.node == "node2") | .ip' "$inv" | head -1)
  local podpath=$build/userspace/podpath
  [[ -x $podpath ]] || podpath=$build/userspace/cli/podpath
  nsenter --net="/run/netns/$BA_LAB-node1" -- "$podpath" agent --lab "$BA_LAB" --node node1 \
    --listen "unix:$sock" --max-flows 524288 --idle-timeout 120 --ready-file "$ready" >/dev/null 2>"$dir/agent.log" &
  agent=$!
  pids+=("$agent")
  for _ in $(seq 600); do [[ -f $ready ]] && break; sleep 0.05; done
  [[ -f $ready ]] || { echo "bench: the agent did not get ready: $(tail -n 3 "$dir/agent.log")" >&2; exit 1; }

  local -a rows=()
  sleep 2
  rows+=("idle (lab control traffic only)|$(bench_agent_tracked "$sock")|$(bench_agent_sample "$agent" "$window")|—")
  local sender
  for n in 10000 100000; do
    echo "bench: agent: $n flows" >&2
    bench_agent_flows "$src" "$dst_ip" "$n" $(( window * 3 + 60 )) &
    sender=$!
    pids+=("$sender")
    for _ in $(seq 600); do (( $(bench_agent_tracked "$sock") >= n )) && break; sleep 0.5; done
    rows+=("$n UDP flows, each refreshed every 2 s|$(bench_agent_tracked "$sock")|$(bench_agent_sample "$agent" "$window")|—")
    if (( n == 10000 )); then
      echo "bench: agent: 16 stream clients" >&2
      local -a streams=()
      local i
      for i in $(seq 16); do
        curl -sN --unix-socket "$sock" http://agent/v1/flows/stream >"$dir/s$i" 2>/dev/null &
        streams+=("$!")
      done
      pids+=("${streams[@]}")
      sleep 2
      local before sample events bytes dropped
      before=$(du -cb "$dir"/s* | tail -n 1 | cut -f1)
      sample=$(bench_agent_sample "$agent" "$window")
      bytes=$(( ($(du -cb "$dir"/s* | tail -n 1 | cut -f1) - before) / window / 16 / 1024 ))
      events=$(cat "$dir"/s* | grep -c '^event: update' || true)
      dropped=$(curl -s --max-time 10 --unix-socket "$sock" http://agent/v1/node | jq -r '.streams.dropped')
      kill "${streams[@]}" 2>/dev/null || true
      wait "${streams[@]}" 2>/dev/null || true
      rows+=("$n flows + 16 /v1/flows/stream clients|$(bench_agent_tracked "$sock")|$sample|$bytes KiB/s per client, $(( events / 16 )) updates per client in $(( window + 2 )) s, $dropped dropped")
    fi
    kill "$sender" 2>/dev/null || true
    wait "$sender" 2>/dev/null || true
  done
  kill "$agent" 2>/dev/null || true
  wait "$agent" 2>/dev/null || true
  "$lab" down --name "$BA_LAB" >/dev/null

  {
    echo "## podpath agent"
    echo
    echo "One \`podpath agent\` on node1 of a 2-node lab (refresh every 1 s, --max-flows 524288), its API on a"
    echo "unix socket. A node1 pod sends one UDP datagram per flow to a node2 pod every 2 s, so every flow stays"
    echo "alive and changes at every other refresh; each flow is counted at node1's veth, cbr0 and eth0."
    echo "CPU: the agent's user + system time per second over $window s; memory: VmRSS at the end of that window."
    echo "The stream clients are curl processes reading as fast as they can (docs/agent.md)."
    echo
    echo "| condition | flow directions tracked | agent CPU (ms per s) | agent RSS (MiB) | streams |"
    echo "|---|---|---|---|---|"
    local r name tracked cpu_rss cpu rss streams
    for r in "${rows[@]}"; do
      IFS='|' read -r name tracked cpu_rss streams <<<"$r"
      read -r cpu rss <<<"$cpu_rss"
      printf '| %s | %s | %s | %s | %s |\n' "$name" "$tracked" "$cpu" "$rss" "$streams"
    done
    echo
  } >>"$report"
}
