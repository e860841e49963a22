#!/usr/bin/env bash
# The whole test suite, as CI runs it: setup, the release build with every ctest tier (unit,
# integration, system), the ASan+UBSan build with unit + integration, and a bounded fuzz smoke
# run of every fuzzer. The last line is always "N passed, N failed"; the exit status is non-zero
# when anything failed, including a build.
#
# Environment: WEIR_TEST_TIERS="release asan fuzz" to run a subset (setup always runs);
#              WEIR_FUZZ_SECONDS (default 60) bounds each fuzzer;
#              WEIR_FUZZ_SEED (default 1) seeds every fuzzer, so a tree's smoke run is the same
#              run each time: a failure reproduces, and a CI result does not depend on luck.
#              Bug hunting is a longer campaign with other seeds (README, "Tests").
set -uo pipefail

cd "$(dirname "$0")/.."
# Namespaces, taps and the sandbox need root: re-run with sudo where it exists.
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
root=$(pwd)
tiers=${WEIR_TEST_TIERS:-release asan fuzz}
fuzz_seconds=${WEIR_FUZZ_SECONDS:-60}
fuzz_seed=${WEIR_FUZZ_SEED:-1}
jobs=${WEIR_JOBS:-2}

# ccache hits across clones in different directories (CI clones afresh each run): paths are
# made relative to the checkout, and debug info does not pin the build directory.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1

total_passed=0
total_failed=0
timings=()

log() { printf '== %s\n' "$*"; }

# Adds ctest's "NN% tests passed, F tests failed out of T" to the totals. ctest counts skipped
# tests (GTEST_SKIP, exit 77) among the passed ones; here they are neither passed nor failed.
count_ctest() {
  local out=$1 line t f s
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1)
  if [ -z "$line" ]; then
    return
  fi
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  s=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$out")
  [ "$s" -gt 0 ] && log "$s tests skipped (listed above), counted neither passed nor failed"
  total_passed=$((total_passed + t - f - s))
  total_failed=$((total_failed + f))
}

# A build or configure step that fails is one failed "test": nothing after it in the tier runs.
build() {
  local dir=$1
  shift
  if ! cmake -G Ninja -B "$dir" -S "$root" "$@" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"
    log "configure of $dir failed"
    return 1
  fi
  rm -f "$dir.configure.log"
  if ! ninja -C "$dir" -j"$jobs"; then
    log "build in $dir failed"
    return 1
  fi
}

run_ctest() {
  local dir=$1
  shift
  local out
  out=$(mktemp)
  (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$out"
  local status=${PIPESTATUS[0]}
  if grep -qE '[0-9]+% tests passed' "$out"; then
    count_ctest "$out"
  elif grep -q 'No tests were found' "$out"; then
    log "ctest $*: no tests"
  elif [ "$status" -ne 0 ]; then
    log "ctest $* failed without a summary (status $status)"
    total_failed=$((total_failed + 1))
  fi
  rm -f "$out"
}

tier_release() {
  mkdir -p build
  if ! build build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
    total_failed=$((total_failed + 1))
    return
  fi
  # Unit and integration tests in parallel; system tests one at a time (they are RUN_SERIAL and
  # share the machine's network namespaces list), so they get their own ctest run.
  run_ctest build -j"$jobs" -LE system
  if [ "$(id -u)" -ne 0 ]; then
    log "system tests need root (network namespaces, /dev/net/tun): run as root"
    total_failed=$((total_failed + 1))
    return
  fi
  run_ctest build -L system
}

tier_asan() {
  mkdir -p build-asan
  if ! build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_SANITIZE=ON; then
    total_failed=$((total_failed + 1))
    return
  fi
  # The lossy 64 MiB-each-way transfer runs at full size in the release tier; under ASan the
  # same code paths run on 16 MiB, which keeps this tier within CI's time.
  WEIR_TCP_TRANSFER_MIB=16 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan -j"$jobs" -LE system
}

# Runs one fuzzer over its seed corpus plus 20000 new inputs, bounded in time; writes its exit
# status to build-fuzz/fuzz_NAME.status.
fuzz_one() {
  local bin=$1 name=$2 corpus=fuzz/corpus/$2 scratch status
  # New inputs land in a scratch directory first in the list, so the checked-in seed corpus
  # is only read, never written.
  scratch=$(mktemp -d)
  local dirs=("$scratch")
  [ -d "$corpus" ] && dirs+=("$corpus")
  timeout --kill-after=10 $((fuzz_seconds + 60)) "$bin" -runs=20000 -seed="$fuzz_seed" \
    -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$root/build-fuzz/crash-$name-" "${dirs[@]}" \
    >"build-fuzz/fuzz_$name.log" 2>&1
  status=$?
  # A target whose edge counters libFuzzer never registered runs clean but blind: it happened
  # once when a harness file named the counter section itself (fuzz/setup_coverage.cc).
  local counters='Loaded [0-9]+ modules +\([1-9][0-9]* inline 8-bit counters\)'
  if [ "$status" = 0 ] && ! grep -qE "$counters" "build-fuzz/fuzz_$name.log"; then
    echo "fuzz_$name: libFuzzer registered no coverage counters" >>"build-fuzz/fuzz_$name.log"
    status=3
  fi
  rm -rf "$scratch"
  echo "$status" >"build-fuzz/fuzz_$name.status"
}

tier_fuzz() {
  mkdir -p build-fuzz
  if ! build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19; then
    total_failed=$((total_failed + 1))
    return
  fi
  local bin name found=0
  # Two fuzzers at a time (the machine has two cores); each records its status in a file.
  for bin in build-fuzz/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    found=1
    name=$(basename "$bin")
    name=${name#fuzz_}
    rm -f "build-fuzz/fuzz_$name.status"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    log "fuzz $name: seed corpus + 20000 new inputs (at most ${fuzz_seconds}s)"
    fuzz_one "$bin" "$name" &
  done
  wait
  for bin in build-fuzz/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    name=${name#fuzz_}
    if [ "$(cat "build-fuzz/fuzz_$name.status" 2>/dev/null)" = 0 ]; then
      log "fuzz $name passed: $(grep -E '^Done [0-9]+ runs' "build-fuzz/fuzz_$name.log" | tail -n 1)"
      total_passed=$((total_passed + 1))
    else
      tail -n 40 "build-fuzz/fuzz_$name.log"
      log "fuzz $name FAILED (status $(cat "build-fuzz/fuzz_$name.status" 2>/dev/null)); log in build-fuzz/fuzz_$name.log"
      total_failed=$((total_failed + 1))
    fi
  done
  [ $found -eq 1 ] || log "no fuzz targets built"
}

timed() {
  local name=$1 start end
  start=$(date +%s)
  log "tier $name"
  "tier_$name"
  end=$(date +%s)
  timings+=("$name $((end - start))s")
}

log "setup"
if ! ./scripts/setup.sh; then
  log "setup failed"
  echo "0 passed, 1 failed"
  exit 1
fi

for t in $tiers; do
  case $t in
    release | asan | fuzz) timed "$t" ;;
    *)
      echo "test.sh: unknown tier '$t' (known: release asan fuzz)" >&2
      total_failed=$((total_failed + 1))
      ;;
  esac
done

log "timings: ${timings[*]}"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
