# shellcheck shell=bash
# shellcheck disable=SC2034  # the constants and globals are used by the other lab_*.sh files
# scripts/lib/lab_common.sh — what every part of scripts/lab shares: the lab's constants
# (addresses, interface names, limits), the per-lab globals, messages (say, warn, die,
# usage_die), the one table printer, and the checks of the machine (root, tools, CNI
# plugins, cgroup v2). Sourced first by scripts/lab; the other lab_*.sh files use it.

# ---------------------------------------------------------------------------- constants
readonly LAB_RUN=/run/podpath-lab                     # every lab's data dir lives below
readonly LAB_SCHEMA_VERSION=1                         # docs/inventory.md "version"
readonly UNDERLAY_CIDR=10.0.0.0/24
readonly SERVICE_CIDR=10.96.0.0/12                    # ClusterIPs (lab_services.sh)
readonly GW_IP=10.0.0.1
readonly GW_BRIDGE=br-underlay
readonly NODE_UPLINK=eth0 NODE_BRIDGE=cbr0 NODE_DOCKER=docker0 DOCKER_CIDR_IP=172.17.0.1/24
readonly CNI_BIN=${PODPATH_LAB_CNI_PATH:-/usr/lib/cni}   # override for distros using /opt/cni/bin
readonly MAX_NODES=16 MAX_PODS=64 MAX_CONTAINERS=8 MAX_DURATION=3600
readonly DEFAULT_PREFIX=pp DEFAULT_COMMAND='sleep infinity'

# ---------------------------------------------------------------------------- globals
SUBCMD=""              # current subcommand, for messages
TEARDOWN_QUIET=0       # 1: do not warn about CNI DEL failures (cleaning up a failed/partial build)
# The selected lab (lab_select): its prefix, data dir, lock file, the cgroup v2 mount and
# the lab's cgroup directory below it.
LAB="" LAB_DIR="" LAB_LOCK="" CG2="" LAB_CG=""
LAB_LOCKED=0           # 1: this process holds the lab's lock (lab_lock)

# ---------------------------------------------------------------------------- output
say()  { printf 'lab: %s\n' "$*"; }
warn() { printf 'lab: warning: %s\n' "$*" >&2; }
die()  { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
# die with a specific exit code: die_rc CODE MESSAGE
die_rc() { local rc=$1; shift; printf 'lab: error: %s\n' "$*" >&2; exit "$rc"; }
usage_die() {
  local where="lab${SUBCMD:+ $SUBCMD}"
  printf '%s: %s (see '\''scripts/%s --help'\'')\n' "$where" "$1" "$where" >&2
  exit 2
}
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# tsv_line FIELD...: the fields joined by tabs, a line of a table (print_table) or a record.
tsv_line() { local IFS=$'\t'; printf '%s\n' "$*"; }

# Print tsv_line lines from stdin as an aligned table, columns three blanks apart (fields
# must be non-empty). Every table scripts/lab prints goes through here.
print_table() {
  local -a rows widths=() f
  local line i out cell
  mapfile -t rows
  for line in "${rows[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    for i in "${!f[@]}"; do
      if (( ${#f[i]} > ${widths[i]:-0} )); then widths[i]=${#f[i]}; fi
    done
  done
  for line in "${rows[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    out=""
    for i in "${!f[@]}"; do
      if (( i + 1 < ${#f[@]} )); then
        printf -v cell '%-*s' "$(( widths[i] + 3 ))" "${f[i]}"
        out+=$cell
      else
        out+=${f[i]}
      fi
    done
    printf '%s\n' "$out"
  done
}

# ---------------------------------------------------------------------------- system probes
require_root() {
  [[ $(id -u) -eq 0 ]] ||
    die "scripts/lab $SUBCMD must be run as root (the lab lives in network namespaces and cgroups); try: sudo scripts/lab $SUBCMD ..."
}

# need_tools TOOL:PACKAGE...
need_tools() {
  local spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 ||
      die "required tool '${spec%%:*}' not found; install the Debian package '${spec#*:}' (scripts/install-deps)"
  done
}

need_cni_plugins() {
  local p
  for p in bridge host-local loopback; do
    [[ -x $CNI_BIN/$p ]] ||
      die "CNI plugin '$p' not found in $CNI_BIN; install the Debian package 'containernetworking-plugins' (or set PODPATH_LAB_CNI_PATH)"
  done
}

# Find the cgroup v2 mount point from /proc/self/mountinfo (hybrid systems mount it at
# /sys/fs/cgroup/unified, pure v2 systems at /sys/fs/cgroup).
detect_cgroup2() {
  local line rest fstype mnt
  while IFS= read -r line; do
    rest=${line#* - }
    fstype=${rest%% *}
    [[ $fstype == cgroup2 ]] || continue
    read -r _ _ _ _ mnt _ <<<"$line"
    CG2=$(printf '%b' "$mnt")          # mountinfo escapes blanks as \040
    return 0
  done </proc/self/mountinfo
  return 1
}

need_cgroup2() {
  [[ -n $CG2 ]] || die "no cgroup v2 hierarchy is mounted (no 'cgroup2' entry in /proc/self/mountinfo); the lab's containers need one"
  [[ -w $CG2/cgroup.procs ]] || die "cannot write to the cgroup v2 hierarchy at $CG2"
  [[ $CG2 =~ ^/[A-Za-z0-9._/-]*$ ]] || die "unsupported characters in the cgroup v2 mount path '$CG2'"
}
