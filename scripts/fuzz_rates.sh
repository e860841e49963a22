#!/usr/bin/env bash
# Inputs per second of every fuzz target, as the data-path work reports them: libFuzzer's own
# exec/s on its DONE line after SECONDS seconds from a scratch copy of the target's seed corpus
# (fixed seed, so a tree's figures are the same run each time), median of REPS runs. Targets
# run one at a time: two at once on a two-core machine halve each other's rate.
#
# Usage: scripts/fuzz_rates.sh [TARGET...]     (default: every target built)
# Environment: BUILD_DIR (default build-fuzz, as scripts/test.sh's fuzz tier builds it, under
#              ASan + UBSan; built here the same way when missing; a directory configured
#              with -DWEIR_FUZZ_SANITIZERS= measures coverage-only targets), SECONDS_EACH
#              (default 10), REPS (default 3),
#              SEED (default 1), TARGET_RATE (default 20000: the line the table marks).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${BUILD_DIR:-build-fuzz}
seconds=${SECONDS_EACH:-10}
reps=${REPS:-3}
seed=${SEED:-1}
target_rate=${TARGET_RATE:-20000}

case $seconds$reps$seed$target_rate in
  *[!0-9]*)
    echo "fuzz_rates.sh: SECONDS_EACH, REPS, SEED and TARGET_RATE must be whole numbers" >&2
    exit 2
    ;;
esac
if [ "$reps" -lt 1 ] || [ "$seconds" -lt 1 ]; then
  echo "fuzz_rates.sh: SECONDS_EACH and REPS must be at least 1" >&2
  exit 2
fi

if [ ! -d "$build_dir/fuzz" ]; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  cmake -G Ninja -B "$build_dir" -S "$root" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
  ninja -C "$build_dir" -j"${WEIR_JOBS:-2}"
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$build_dir"/fuzz/fuzz_*; do
    [ -x "$bin" ] && targets+=("$(basename "$bin" | sed 's/^fuzz_//')")
  done
fi

for name in "${targets[@]}"; do
  if [ ! -x "$build_dir/fuzz/fuzz_$name" ]; then
    echo "fuzz_rates.sh: no target $name in $build_dir/fuzz" >&2
    exit 2
  fi
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

below=0
printf '%-20s %10s  %s\n' target 'exec/s' 'runs'
for name in "${targets[@]}"; do
  bin="$build_dir/fuzz/fuzz_$name"
  rates=()
  for _ in $(seq "$reps"); do
    rm -rf "$scratch/corpus"
    mkdir -p "$scratch/corpus"
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$scratch/corpus/"
    rate=$("$bin" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 \
      -artifact_prefix="$scratch/" "$scratch/corpus" 2>&1 |
      sed -nE 's/.*DONE .*exec\/s: ([0-9]+).*/\1/p' | tail -n 1)
    rates+=("${rate:-0}")
  done
  median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")
  mark=''
  if [ "$median" -lt "$target_rate" ]; then
    mark=" (below $target_rate)"
    below=$((below + 1))
  fi
  printf '%-20s %10s  %s%s\n' "$name" "$median" "${rates[*]}" "$mark"
done
echo "${#targets[@]} targets, $below below $target_rate inputs/s"
