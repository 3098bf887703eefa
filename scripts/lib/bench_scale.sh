# shellcheck shell=bash
# scripts/bench, part 3: the userspace at scale (tests/bench/scale_bench.cpp). Sourced by
# scripts/bench; defines bench_scale.

# bench_scale BUILD_DIR REPORT PLOT ROWS...: appends the scale section to REPORT and, when
# PLOT is not empty, draws the growth into that PNG (gnuplot).
bench_scale() {
  local build=$1 report=$2 plot=$3
  shift 3
  local data
  data=$(mktemp)
  {
    echo "## Userspace at scale"
    echo
    echo "\`podpath_bench_scale\`: the real tc_flow program creates N flows-map entries under"
    echo "BPF_PROG_TEST_RUN (one frame per flow: every entry is a flow and a conversation of its own, the"
    echo "worst case for userspace), then the aggregator refreshes them as \`podpath trace\` does. *Batch"
    echo "lookup* is the kernel's part alone (bpf_map_lookup_batch of every entry, the floor); *refresh* is"
    echo "read + aggregate (deltas, rates, pairing, expiry), *first* with every entry new, *idle* with no"
    echo "counter changed, *busy* after every flow got one more packet. *top 10 + JSON* is what"
    echo "\`--output json --limit 10\` adds: select the 10 busiest, resolve and compose their paths, print."
    echo "*CPU per s* is one refresh plus that output at the default 1 s interval (CPU time of the"
    echo "process; % of one core). RSS is the whole process at the end; *userspace per entry* its growth"
    echo "from before the first refresh. The kernel's two flows maps (IPv4 \`pp_flows4\`, which holds these"
    echo "entries, and IPv6 \`pp_flows\`) are each sized 1.25 N (\`--max-flows\`); their memory is the"
    echo "kernel's memlock accounting. Medians of 5 refreshes; each row in a fresh process."
    echo
    "$build/tests/bench/podpath_bench_scale" --data "$data" "$@"
    echo
    awk -F'\t' '
      /^#/ { next }
      { n[NR] = $1; idle[$1] = $3; busy[$1] = $4; cpu[$1] = $5; rss[$1] = $7; look[$1] = $2; per[$1] = $9 }
      END {
        print "| target | measured |"
        print "|---|---|"
        if (1000000 in busy)
          printf "| one refresh of 1,000,000 entries <= 100 ms (batch lookup alone: %.0f ms) | busy %.0f ms, idle %.0f ms %s |\n", look[1000000], busy[1000000], idle[1000000], (busy[1000000] <= 100 ? "✔" : "✘")
        if (100000 in cpu)
          printf "| CPU <= 2 %% of a core with 100,000 idle flows (kernel read alone: %.2f %%) | %.2f %% %s |\n", look[100000] / 10, cpu[100000] / 10, (cpu[100000] <= 20 ? "✔" : "✘")
        if (1000000 in rss)
          printf "| RSS <= 400 MB at 1,000,000 entries | %.0f MB %s |\n", rss[1000000], (rss[1000000] <= 400 ? "✔" : "✘")
        if (1000000 in per)
          printf "| userspace memory <= 300 B per entry (at 1,000,000) | %.0f B %s |\n", per[1000000], (per[1000000] <= 300 ? "✔" : "✘")
      }' "$data"
    echo
  } >>"$report"
  if [[ -n $plot ]]; then
    gnuplot <<GNUPLOT
set terminal pngcairo size 1100,450 font "DejaVu Sans,10"
set output "$plot"
set multiplot layout 1,2 title "podpath userspace at scale ($(uname -r), $(nproc) CPUs)"
set logscale xy
set grid
set key top left
set xlabel "flows-map entries"
set ylabel "ms"
set title "one refresh"
plot "$data" using 1:2 with linespoints title "batch lookup (kernel, floor)", \
     "$data" using 1:3 with linespoints title "refresh, idle", \
     "$data" using 1:4 with linespoints title "refresh, busy", \
     "$data" using 1:5 with linespoints title "CPU per s at 1 s interval, idle"
set ylabel "MB"
set title "memory"
plot "$data" using 1:7 with linespoints title "podpath RSS", \
     "$data" using 1:8 with linespoints title "kernel flows maps (IPv4 + IPv6, 1.25 x entries each)"
unset multiplot
GNUPLOT
    echo "bench: plot written to $plot" >&2
  fi
  rm -f "$data"
}
