# What the examples' run.sh scripts share (sourced, not run): the skip rules, a scratch
# directory, namespaces and processes removed on every exit path, and failure reports with the
# logs. The examples' programs stand alone; only their test harness uses this.
#
#   source "$(dirname "$0")/../run_lib.sh"
#   example_init example.NAME ip python3 ...    # exit 77 (skipped) without root, tun, tools
#   example_netns "$ns"                         # made now, deleted on exit
#   prog ... >"$work/server.log" 2>&1 & example_on_exit_kill $!
#   ... || fail "what went wrong"                # prints every $work/*.log, exits 1

example_pids=()
example_namespaces=()

example_init() {
  example_name=$1
  shift
  [ "$(id -u)" -eq 0 ] || { echo "$example_name: skipped (needs root)"; exit 77; }
  [ -c /dev/net/tun ] || { echo "$example_name: skipped (no /dev/net/tun)"; exit 77; }
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$example_name: skipped ($tool missing)"; exit 77; }
  done
  work=$(mktemp -d "/tmp/weir-$example_name.XXXXXX")
  trap example_cleanup EXIT
  trap 'exit 130' INT TERM
}

example_cleanup() {
  local pid ns
  # TERM, not KILL: the pids are `timeout` wrappers, which pass TERM on to their command (and
  # KILL it 5 s later with --kill-after); a KILLed wrapper would leave its command running.
  for pid in "${example_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${example_pids[@]}"; do wait "$pid" 2>/dev/null; done
  for ns in "${example_namespaces[@]}"; do timeout 10 ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}

example_on_exit_kill() { example_pids+=("$@"); }

# A namespace with loopback up.
example_netns() {
  timeout 10 ip netns add "$1" || fail "cannot create namespace $1"
  example_namespaces+=("$1")
  ip -n "$1" link set lo up
}

# A namespace with a tap whose kernel side has ADDR/LEN and is up: the Linux side of a
# weir program that opens the tap inside the namespace.
example_netns_with_tap() {
  local ns=$1 tap=$2 address=$3
  example_netns "$ns"
  ip -n "$ns" tuntap add mode tap name "$tap" || fail "cannot create the tap $tap"
  ip -n "$ns" addr add "$address" dev "$tap"
  ip -n "$ns" link set "$tap" up
}

fail() {
  echo "$example_name: FAIL: $*" >&2
  local log
  for log in "$work"/*.log "$work"/*.err; do
    [ -s "$log" ] || continue
    sed "s/^/    $(basename "${log%.*}"): /" "$log" >&2
  done
  exit 1
}
