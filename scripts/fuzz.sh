#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan + UBSan) and runs each for a while from its
# seed corpus. Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# New inputs go to build/fuzz/corpus/<target>; the seeds in test/fuzz/corpus stay untouched.
# Targets: rate_limit model response mock_request tls_transport. Exits non-zero on any crash, leak or UB.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(rate_limit model response mock_request tls_transport); fi

bash scripts/install-deps.sh clang-14 libclang-rt-14-dev
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]/#/carcheck_fuzz_}"

total=0
for t in "${targets[@]}"; do
  work=build/fuzz/corpus/$t
  mkdir -p "$work" build/fuzz/artifacts
  seeds=(test/fuzz/corpus/$t)
  [[ $t == model ]] && seeds+=(test/data/replies)
  log=build/fuzz/$t.log
  echo "fuzz: $t for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
       "build/fuzz/test/fuzz/carcheck_fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix=build/fuzz/artifacts/"$t"- -print_final_stats=1 "$work" "${seeds[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED (log: $log)" >&2
    exit 1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  echo "fuzz: $t ok, $runs executions"
  total=$((total + runs))
done
echo "fuzz: total $total executions, no crash, leak or undefined behaviour"
