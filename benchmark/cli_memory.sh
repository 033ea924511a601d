#!/usr/bin/env bash
# Section 7c of the benchmark: the `carcheck` CLI's memory against the number of inputs, and
# its batch throughput (the 10,000-image batch of section 7) after the change that made its
# memory O(concurrency).
#
#   bash benchmark/cli_memory.sh CLI_BINARY MOCK_BINARY [RUNS]
#
# (bash benchmark/run.sh --cli-memory builds both in the release preset and calls this.)
# Peak RSS: N paths that do not exist on stdin (10 k, 100 k, 1 M), each answered by an error
# line without a request (the duplicate check, the look-ahead and the output are what is
# measured), then the same 1 M again with --resume of that output (every name in the index
# twice over). Throughput: 10,000 sample images of ~8 KiB, --concurrency 64, TLS, against
# carcheck-mock on its own core, RUNS runs (default 7); images/s = lines / wall time. With
# CARCHECK_BENCH_BASELINE_CLI=/path/to/an/older/carcheck, that binary runs the same batch in
# turn with this one (which goes first alternates), for a ratio under the same conditions.
# Prints Markdown tables on stdout. Only 127.0.0.1 is contacted.
set -euo pipefail

cli=${1:?usage: cli_memory.sh CLI MOCK [RUNS]}
mock=${2:?usage: cli_memory.sh CLI MOCK [RUNS]}
runs=${3:-7}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/carcheck-cli-memory.XXXXXX")
mock_pid=""
cleanup() {
  [[ -n $mock_pid ]] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
pin_server=() pin_client=()
if (($(nproc) >= 2)); then pin_server=(taskset -c 0) pin_client=(taskset -c 1); fi
export CARCHECK_SECRET_KEY=batch-key

echo "| inputs on stdin | run | peak RSS (MiB) | wall time (s) | lines |"
echo "|---|---|---|---|---|"
for n in 10000 100000 1000000; do
  python3 -c "import sys
for i in range($n): sys.stdout.write('/nonexistent/carcheck-bench/camera-07/frame-%09d.jpg\n' % i)" >"$work/paths"
  rm -f "$work/out.jsonl"
  for mode in new resume; do
    [[ $mode == resume && $n != 1000000 ]] && continue
    extra=()
    [[ $mode == resume ]] && extra=(--resume)
    start=$(date +%s.%N)
    set +e
    /usr/bin/time -f '%M' -o "$work/rss" "${pin_client[@]}" "$cli" recognize --endpoint http://127.0.0.1:9/v3 \
      --quiet --output "$work/out.jsonl" "${extra[@]}" - <"$work/paths"
    status=$?
    set -e
    end=$(date +%s.%N)
    # Every input is a missing file: exit 1 the first time; resumed, nothing is left (exit 0).
    want=1; [[ $mode == resume ]] && want=0
    ((status == want)) || { echo "unexpected exit status $status for $n inputs ($mode)" >&2; exit 1; }
    lines=$(wc -l <"$work/out.jsonl")
    ((lines == n)) || { echo "$lines lines for $n inputs" >&2; exit 1; }
    label="fresh"; [[ $mode == resume ]] && label="--resume of that output"
    printf '| %s | %s | %.1f | %.2f | %s |\n' "$n" "$label" "$(echo "$(tail -1 "$work/rss") / 1024" | bc -l)" \
      "$(echo "$end - $start" | bc -l)" "$lines"
  done
done
rm -f "$work/paths" "$work/out.jsonl"

python3 "$root/tools/make_sample_images.py" --count 10000 --size-kb 8 "$work/batch" >/dev/null
"${pin_server[@]}" "$mock" --no-http --https-port 0 --quiet --key "batch-key:1000000000" \
  --write-cert "$work/ca.pem" >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
for _ in $(seq 100); do grep -q 'https=' "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*https=\([0-9]*\).*/\1/p' "$work/mock.out" | head -1)
[[ -n $port ]] || { echo "carcheck-mock did not start" >&2; exit 1; }
echo
baseline=${CARCHECK_BENCH_BASELINE_CLI:-}
echo "| batch run | binary | images | wall time (s) | images/s | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
rates=() base_rates=()
batch_once() { # $1 run, $2 label, $3 binary; prints the row, sets $rate
  find "$work/batch" -type f -exec cat {} + >/dev/null
  rm -f "$work/out.jsonl"
  local start end lines wall
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "${pin_client[@]}" "$3" recognize --endpoint "https://127.0.0.1:$port/v3" \
    --ca-file "$work/ca.pem" --concurrency 64 --quiet --output "$work/out.jsonl" "$work/batch"
  end=$(date +%s.%N)
  lines=$(grep -c '"ok":true' "$work/out.jsonl")
  ((lines == 10000)) || { echo "$lines ok lines of 10000 ($2)" >&2; exit 1; }
  wall=$(echo "$end - $start" | bc -l)
  rate=$(echo "$lines / $wall" | bc -l)
  printf '| %s | %s | %s | %.2f | %.0f | %.1f |\n' "$1" "$2" "$lines" "$wall" "$rate" \
    "$(echo "$(tail -1 "$work/rss") / 1024" | bc -l)"
}
for r in $(seq "$runs"); do
  if [[ -n $baseline ]] && ((r % 2 == 0)); then
    batch_once "$r" baseline "$baseline"; base_rates+=("$rate")
  fi
  batch_once "$r" this "$cli"; rates+=("$rate")
  if [[ -n $baseline ]] && ((r % 2 == 1)); then
    batch_once "$r" baseline "$baseline"; base_rates+=("$rate")
  fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\nmedian images/s: %.0f\n' "$(median "${rates[@]}")"
if [[ -n $baseline ]]; then
  printf 'baseline median images/s: %.0f (this / baseline: %.2fx)\n' "$(median "${base_rates[@]}")" \
    "$(echo "$(median "${rates[@]}") / $(median "${base_rates[@]}")" | bc -l)"
fi
