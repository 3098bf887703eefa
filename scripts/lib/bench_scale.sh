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
    echo "worst case for userspace), then the aggregator refreshes them as \`podpath trace\` does. Each N"
    echo "is measured four ways, each in a fresh process: *full* reads every entry with batch lookups and"
    echo "aggregates all of them at every refresh (podpath before changed-entries reads); *batch, changed*"
    echo "still reads every entry with batch lookups but hands the aggregator only those whose last packet"
    echo "came after the previous read; *iterator, changed* walks the maps in the kernel and copies out"
    echo "only those; *change log* (the default) looks up only the keys the programs logged since the"
    echo "previous read (pp_changed), and walks with the iterator when the log lost records or holds more"
    echo "keys than pay. The first three run with the change log off. The last three read every entry"
    echo "once per 60 refreshes (the aggregator's safety net). *Refresh* is read + aggregate (deltas, rates,"
    echo "pairing, expiry): *first* with every entry new, *idle* with no counter changed (median of a cycle"
    echo "of 60), *1 %* / *10 %* after every 100th / 10th flow got one more packet, *busy* after every"
    echo "flow did. *top 10 + JSON* is what \`--output json"
    echo "--limit 10\` adds. *CPU per s* is one refresh plus that output at the default 1 s interval (CPU"
    echo "time of the process, % of one core); idle: the mean over the cycle of 60, its full read included."
    echo "RSS is the whole process at the end; *userspace per entry* its growth from before the first"
    echo "refresh. The kernel's two flows maps (IPv4 \`pp_flows4\`, which holds these entries, and IPv6"
    echo "\`pp_flows\`) are each sized 1.25 N (\`--max-flows\`); their memory is the kernel's memlock"
    echo "accounting. Busy: medians of 5 refreshes. Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    "$build/tests/bench/podpath_bench_scale" --data "$data" "$@"
    echo
    echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    awk -F'\t' '
      /^#/ { next }
      { k = $1 "/" $2; idle[k] = $4; busy[k] = $5; cpu[k] = $6; rss[k] = $8; look[k] = $3; per[k] = $10; walk[k] = $11; c1[k] = $15; c10[k] = $16 }
      END {
        print "| target (change log; before: full, and the iterator walk) | measured |"
        print "|---|---|"
        if ("1000000/3" in busy)
          printf "| one refresh of 1,000,000 entries <= 100 ms (kernel alone: batch lookup %.0f ms, iterator walk %.0f ms) | busy %.0f ms, idle %.0f ms (before: busy %.0f ms, idle %.0f ms; iterator idle %.0f ms) %s |\n", look["1000000/3"], walk["1000000/2"], busy["1000000/3"], idle["1000000/3"], busy["1000000/0"], idle["1000000/0"], idle["1000000/2"], (busy["1000000/3"] <= 100 && idle["1000000/3"] <= 100 ? "✔" : "✘")
        if ("1000000/3" in c1)
          printf "| 1,000,000 entries, 1 %% changed | %.1f ms (iterator: %.1f ms) |\n", c1["1000000/3"], c1["1000000/2"]
        if ("1000000/3" in c10)
          printf "| 1,000,000 entries, 10 %% changed | %.1f ms (iterator: %.1f ms) |\n", c10["1000000/3"], c10["1000000/2"]
        if ("100000/3" in cpu)
          printf "| CPU <= 2 %% of a core with 100,000 idle flows (kernel walk alone: %.2f %%) | %.2f %% (before: %.2f %%, iterator %.2f %%) %s |\n", walk["100000/2"] / 10, cpu["100000/3"] / 10, cpu["100000/0"] / 10, cpu["100000/2"] / 10, (cpu["100000/3"] <= 20 ? "✔" : "✘")
        if ("1000000/3" in rss)
          printf "| RSS <= 400 MB at 1,000,000 entries | %.0f MB %s |\n", rss["1000000/3"], (rss["1000000/3"] <= 400 ? "✔" : "✘")
        if ("1000000/3" in per)
          printf "| userspace memory <= 300 B per entry (at 1,000,000) | %.0f B %s |\n", per["1000000/3"], (per["1000000/3"] <= 300 ? "✔" : "✘")
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
plot "$data" using 1:(\$2 == 2 ? \$11 : 1/0) with linespoints title "iterator walk, nothing changed (kernel)", \
     "$data" using 1:(\$2 == 0 ? \$3 : 1/0) with linespoints title "batch lookup of every entry (kernel)", \
     "$data" using 1:(\$2 == 0 ? \$4 : 1/0) with linespoints title "refresh, idle: full (before)", \
     "$data" using 1:(\$2 == 2 ? \$4 : 1/0) with linespoints title "refresh, idle: iterator, changed", \
     "$data" using 1:(\$2 == 3 ? \$4 : 1/0) with linespoints title "refresh, idle: change log", \
     "$data" using 1:(\$2 == 3 ? \$16 : 1/0) with linespoints title "refresh, 10 % changed: change log", \
     "$data" using 1:(\$2 == 3 ? \$5 : 1/0) with linespoints title "refresh, busy: change log", \
     "$data" using 1:(\$2 == 3 ? \$6 : 1/0) with linespoints title "CPU per s at 1 s interval, idle: change log"
set ylabel "MB"
set title "memory"
plot "$data" using 1:(\$2 == 3 ? \$8 : 1/0) with linespoints title "podpath RSS", \
     "$data" using 1:(\$2 == 3 ? \$9 : 1/0) with linespoints title "kernel flows maps (IPv4 + IPv6, 1.25 x entries each)"
unset multiplot
GNUPLOT
    echo "bench: plot written to $plot" >&2
  fi
  rm -f "$data"
}
