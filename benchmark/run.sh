#!/usr/bin/env bash
# carcheck benchmark harness: the one command.
#
#   bash benchmark/run.sh            # full run (~15 minutes on 2 cores, build excluded)
#   bash benchmark/run.sh --quick    # smoke run (~1 minute): every program once, tiny loads
#   bash benchmark/run.sh --cli-memory   # section 7c only: the CLI's peak RSS for 10 k / 100 k /
#                                        # 1 M inputs and its 10,000-image batch rate (~2 minutes)
#   bash benchmark/run.sh --only replicas   # just section 8 (~1.5 minutes): 1..16 processes on
#                                    # one rate-limited key; rewrites only its RESULTS.md section
#   bash benchmark/run.sh --only latency    # just the latency-bound batch (~1 minute): 200 ms per
#                                           # recognition, adaptive in-flight limit vs --concurrency 8
#   bash benchmark/run.sh --only compile    # just section 9 (~5 minutes, no build): compile time
#                                    # of a user's file; rewrites only its RESULTS.md section
#   bash benchmark/run.sh --only throttled  # just the throttled large upload (~1 minute): 200 MB
#                                    # through a 20 MB/s loopback link, carcheck vs curl -F
#
# Installs what is missing (Debian packages), builds the benchmark programs in the release
# preset (and the command-line tool), starts nginx (TLS + plain, one worker pinned to core 0)
# and carcheck-mock on 127.0.0.1, runs every measurement with the client pinned to core 1, and writes
# benchmark/RESULTS.md, benchmark/results.json and benchmark/plots/*.png.
# Nothing but 127.0.0.1 is ever contacted (apart from apt-get installing missing packages).
#
# Environment: CARCHECK_BENCH_BUILD_DIR (default /tmp/carcheck-bench-build),
#              CARCHECK_BENCH_KEEP=1 keeps the temporary work directory,
#              CARCHECK_BENCH_JOBS build jobs (default 2).
set -euo pipefail

quick=0 cli_memory_only=0 only=""
case "${1:-}" in
  --quick) quick=1 ;;
  --cli-memory) cli_memory_only=1 ;;
  --only) only=${2:-}; [[ $only == replicas || $only == compile || $only == throttled || $only == latency ]] || { echo "usage: bash benchmark/run.sh --only replicas|compile|throttled|latency" >&2; exit 2; } ;;
  "") ;;
  -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
  *) echo "usage: bash benchmark/run.sh [--quick | --cli-memory | --only replicas|compile|throttled|latency]" >&2; exit 2 ;;
esac

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench_dir")
build_dir=${CARCHECK_BENCH_BUILD_DIR:-/tmp/carcheck-bench-build}
harness=(python3 "$bench_dir/harness.py")
log() { printf '\n== %s\n' "$*" >&2; }

# Section 7c alone: the CLI and the mock, no peers, no packages.
if ((cli_memory_only)); then
  log "7c. (no packages installed: it needs python3, bc, taskset, /usr/bin/time) building the CLI and carcheck-mock (release preset) in $build_dir"
  (cd "$root" && cmake --preset release -B "$build_dir" -DCARCHECK_BUILD_TOOLS=ON >/dev/null)
  cmake --build "$build_dir" -j"${CARCHECK_BENCH_JOBS:-2}" --target carcheck-mock carcheck_cli
  log "7c. CLI memory against the number of inputs, and the 10,000-image batch rate"
  bash "$bench_dir/cli_memory.sh" "$build_dir/tools/cli/carcheck" "$build_dir/tools/mock_server/carcheck-mock"
  exit 0
fi

# Section 9 alone: a compiler is all it needs (run before the packages and the build).
# A user's file: how long it takes and how much memory the compiler needs, the quick start
# against the compiled library (the default carcheck::carcheck) and header-only, next to a file
# that includes only Asio, Asio SSL and Boost.JSON. Same compiler and flags for all three.
compile_section() {
  log "9. compile time of a user's file ($runs runs each, g++ -std=c++20 -O2, one job)"
  printf '#include <boost/asio.hpp>\n#include <boost/asio/ssl.hpp>\n#include <boost/json.hpp>\nint main() {}\n' \
    >"$work/boost_only.cpp"
  compile_flags=(-std=c++20 -O2 -c -o /dev/null -I"$root/include")
  for r in $(seq "$runs"); do
    run --suite compile --client boost_only --rep "$r" --timeout 600 --expect-stdout "" -- \
      "${pin_client[@]}" g++ "${compile_flags[@]}" "$work/boost_only.cpp"
    run --suite compile --client quick_start_compiled --rep "$r" --timeout 600 --expect-stdout "" -- \
      "${pin_client[@]}" g++ "${compile_flags[@]}" -DCARCHECK_SEPARATE_COMPILATION "$root/examples/quick_start.cpp"
    run --suite compile --client quick_start_header_only --rep "$r" --timeout 600 --expect-stdout "" -- \
      "${pin_client[@]}" g++ "${compile_flags[@]}" "$root/examples/quick_start.cpp"
  done
}
if [[ $only == compile ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/carcheck-bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  raw=$work/raw.jsonl pin_client=(taskset -c "$(( $(nproc) > 1 ? 1 : 0 ))")
  runs=3
  run() { "${harness[@]}" run --raw "$raw" "$@"; }
  compile_section
  "${harness[@]}" compile-section --raw "$raw" --out "$bench_dir"
  log "done: $bench_dir/RESULTS.md (section 9)"
  exit 0
fi

# --- 1. Packages -----------------------------------------------------------------------------
log "checking packages"
bash "$root/scripts/install-deps.sh"
need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v gnuplot >/dev/null 2>&1 || need+=(gnuplot-nox)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
dpkg-query -W -f='${Status}' libcurl4-openssl-dev 2>/dev/null | grep -q 'install ok installed' || need+=(libcurl4-openssl-dev)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null; then
    # nginx-light is not in every release; plain nginx does as well.
    need=("${need[@]/nginx-light/nginx}")
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
  fi
fi

# Section 8 alone: the CLI and the mock are all it needs.
replicas_section() {
  log "8. replicas: 1, 2, 4, 8, 16 carcheck processes on one key of 40 requests per 2 s"
  "${harness[@]}" replicas --cli "$build_dir/tools/cli/carcheck" --mock "$build_dir/tools/mock_server/carcheck-mock" \
    --out "$bench_dir" --procs 1,2,4,8,16 --limit 40 --window 2 --images-total 240 --concurrency 16
}
# The latency-bound batch alone: the CLI and the mock.
latency_section() {
  log "10. latency-bound batch: 200 ms per recognition, 100 and 200 requests/s, adaptive vs --concurrency 8"
  "${harness[@]}" latency --cli "$build_dir/tools/cli/carcheck" --mock "$build_dir/tools/mock_server/carcheck-mock" \
    --out "$bench_dir" --latency-ms 200 --limits 100,200 --modes adaptive,8 --seconds 5
}
if [[ $only == latency ]]; then
  log "building the command-line tool and the mock (release preset) in $build_dir"
  (cd "$root" && cmake --preset release -B "$build_dir" -DCARCHECK_BUILD_TOOLS=ON >/dev/null)
  cmake --build "$build_dir" -j"${CARCHECK_BENCH_JOBS:-2}" --target carcheck-mock carcheck_cli
  latency_section
  log "done: $bench_dir/RESULTS.md (section Latency-bound batch), $bench_dir/latency.json"
  exit 0
fi
if [[ $only == replicas ]]; then
  log "building the command-line tool and the mock (release preset) in $build_dir"
  (cd "$root" && cmake --preset release -B "$build_dir" -DCARCHECK_BUILD_TOOLS=ON >/dev/null)
  cmake --build "$build_dir" -j"${CARCHECK_BENCH_JOBS:-2}" --target carcheck-mock carcheck_cli
  replicas_section
  log "done: $bench_dir/RESULTS.md (section Replicas), $bench_dir/replicas.json"
  exit 0
fi

# The throttled large upload alone: the CLI, the mock, curl and python3.
throttled_section() {
  log "throttled: one 200 MB upload through a 20 MB/s loopback link, carcheck (defaults, --timeout 5) and curl -F"
  "${harness[@]}" throttled --cli "$build_dir/tools/cli/carcheck" --mock "$build_dir/tools/mock_server/carcheck-mock" \
    --out "$bench_dir" --size-mb 200 --rate-mb 20 --deadline 5 --runs 2
}
if [[ $only == throttled ]]; then
  log "building the command-line tool and the mock (release preset) in $build_dir"
  (cd "$root" && cmake --preset release -B "$build_dir" -DCARCHECK_BUILD_TOOLS=ON >/dev/null)
  cmake --build "$build_dir" -j"${CARCHECK_BENCH_JOBS:-2}" --target carcheck-mock carcheck_cli
  throttled_section
  log "done: $bench_dir/RESULTS.md (section Throttled large upload), $bench_dir/throttled.json"
  exit 0
fi

# --- 2. Build --------------------------------------------------------------------------------
log "building the benchmark programs (release preset) in $build_dir"
(cd "$root" && cmake --preset release -B "$build_dir" -DCARCHECK_BUILD_BENCHMARKS=ON -DCARCHECK_BUILD_TOOLS=ON >/dev/null)
cmake --build "$build_dir" -j"${CARCHECK_BENCH_JOBS:-2}" --target carcheck_bench_client carcheck_bench_upload \
  carcheck_bench_encode carcheck_bench_sched carcheck_bench_rusage peer_curl_multi carcheck-mock carcheck_cli
bin=$build_dir/benchmark
mock_bin=$build_dir/tools/mock_server/carcheck-mock
cli_bin=$build_dir/tools/cli/carcheck

# --- 3. Work directory, certificate, inputs -------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/carcheck-bench.XXXXXX")
nginx_pid="" mock_pid="" batch_mock_pid=""
cleanup() {
  [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  [[ -n $mock_pid ]] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  [[ -n $batch_mock_pid ]] && kill "$batch_mock_pid" 2>/dev/null && wait "$batch_mock_pid" 2>/dev/null
  if [[ ${CARCHECK_BENCH_KEEP:-0} == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ncpu=$(nproc)
server_cpu=0 client_cpu=1
if ((ncpu < 2)); then
  echo "warning: one CPU only; server and client share core 0" >&2
  client_cpu=0
fi
pin_client=(taskset -c "$client_cpu")

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

"${harness[@]}" make-inputs --dir "$work" --quick "$quick"
content_type=$(cat "$work/body.ctype")
# The batch of section 7: sample images of ~8 KiB with distinct plates (generated once).
if ((quick)); then batch_images=2000; else batch_images=10000; fi
log "generating $batch_images sample images for the batch"
"${harness[@]}" make-batch --dir "$work/batch" --count "$batch_images" \
  --tool "$root/tools/make_sample_images.py" >/dev/null
read -r port_tls port_plain port_mock_http port_mock_https port_batch < <("${harness[@]}" free-ports 5)

# --- 4. nginx --------------------------------------------------------------------------------
reply=$(tr -d '\n' <"$bench_dir/reply.json")
# The key's window: 10^9 requests an hour (~278,000/s), so that the scheduler reads and paces
# against real headers but the window never binds. (A 10^6-an-hour window is ~278/s in the long
# run: the scheduler rightly sized its in-flight limit to that, and the run measured the pacing.)
reset=$(($(date +%s) + 3600))
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
# Generated by benchmark/run.sh: the reference server of the benchmark.
worker_processes 1;
worker_cpu_affinity 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_max_body_size 1g;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench:10m;
    ssl_session_timeout 1h;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$port_tls ssl;
        listen 127.0.0.1:$port_plain;
        server_name 127.0.0.1;
        location /v3/ {
            # The body is read and discarded; the reply is a fixed recognition.
            default_type application/json;
            add_header X-RateLimit-Limit 1000000000 always;
            add_header X-Ratelimit-Remaining 999999999 always;
            add_header X-Ratelimit-Reset $reset always;
            return 200 '$reply';
        }
        location / { return 404; }
    }
}
EOF
log "starting nginx on 127.0.0.1:$port_tls (TLS) and :$port_plain, core $server_cpu"
taskset -c "$server_cpu" nginx -p "$work/nginx" -c "$work/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!

log "starting carcheck-mock on 127.0.0.1:$port_mock_http / :$port_mock_https, core $server_cpu"
sched_keys=()
if ((quick)); then sched_rate=20 sched_window=2 sched_batch=70; else sched_rate=200 sched_window=5 sched_batch=900; fi
for i in 1 2 3; do sched_keys+=(--key "sched-$i:100000000:$sched_rate:$sched_window"); done
taskset -c "$server_cpu" "$mock_bin" --http-port "$port_mock_http" --https-port "$port_mock_https" --quiet \
  --key bench-key "${sched_keys[@]}" --write-cert "$work/mock-ca.pem" --max-requests-per-connection 250 \
  >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!

log "starting carcheck-mock for the batch on 127.0.0.1:$port_batch (TLS only, no rate limit), core $server_cpu"
taskset -c "$server_cpu" "$mock_bin" --no-http --https-port "$port_batch" --quiet \
  --key "batch-key:1000000000" --write-cert "$work/batch-ca.pem" >"$work/batch-mock.out" 2>"$work/batch-mock.err" &
batch_mock_pid=$!

for _ in $(seq 50); do
  if curl -s -o /dev/null --cacert "$work/cert.pem" "https://127.0.0.1:$port_tls/v3/config" &&
     curl -s -o /dev/null "http://127.0.0.1:$port_mock_http/v3/config" &&
     curl -s -o /dev/null --cacert "$work/batch-ca.pem" "https://127.0.0.1:$port_batch/v3/config"; then break; fi
  sleep 0.1
done
curl -sf -o /dev/null --cacert "$work/cert.pem" -F "image=@$work/car.jpg" \
  "https://127.0.0.1:$port_tls/v3/recognize?secret_key=bench-key&country=us" || { echo "nginx is not answering" >&2; exit 1; }

"${harness[@]}" machine --out "$work/machine.json" --nginx-conf "$work/nginx.conf" \
  --server-cpu "$server_cpu" --client-cpu "$client_cpu" --quick "$quick"

# --- 5. Measurements -------------------------------------------------------------------------
raw=$work/raw.jsonl
: >"$raw"
endpoint="https://127.0.0.1:$port_tls/v3"
url_recognize="$endpoint/recognize?secret_key=bench-key&country=us"
url_bytes="$endpoint/recognize_bytes?secret_key=bench-key&country=us"
if ((quick)); then
  runs=1 dur=1 max_req=20000 concs=(8 64) var_concs=(8) large_sizes=(2 20) enc_mib=16 enc_reps=2 pool_req=1000
  small_runs=1 small_dur=1
else
  runs=3 dur=3 max_req=200000 concs=(1 8 64) var_concs=(8 64) large_sizes=(20 200) enc_mib=64 enc_reps=5 pool_req=10000
  # The small uploads hold four targets, and a client's requests/s moves by up to a third
  # between seconds of the same run on a virtual machine (benchmark/analysis.md): more and
  # shorter runs than the other sections', so that the three clients compared at one
  # concurrency run within seconds of each other, many times over (~25 s a round).
  small_runs=7 small_dur=2
fi
# harness run: time-bounded (--timeout), records exit status, wall time and the child's rusage.
run() { "${harness[@]}" run --raw "$raw" --launcher "$bin/carcheck_bench_rusage" "$@"; }

log "1. small uploads: carcheck vs libcurl multi vs wrk (${concs[*]} concurrent, $small_runs runs, ${small_dur}s each)"
for r in $(seq "$small_runs"); do
  for c in "${concs[@]}"; do
    run --suite small --client carcheck --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/carcheck_bench_client" --endpoint "$endpoint" --ca-file "$work/cert.pem" \
      --file "$work/car.jpg" --requests "$max_req" --duration "$small_dur" --concurrency "$c" --mode multipart
    run --suite small --client curl_multi --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/peer_curl_multi" --url "$url_recognize" --cacert "$work/cert.pem" \
      --file "$work/car.jpg" --requests "$max_req" --duration "$small_dur" --concurrency "$c"
    run --suite small --client wrk --conc "$c" --rep "$r" \
      --env "BENCH_BODY_FILE=$work/body.bin" --env "BENCH_CONTENT_TYPE=$content_type" -- \
      "${pin_client[@]}" wrk -t1 -c "$c" -d "${small_dur}s" --timeout 10s -s "$bench_dir/wrk/recognize.lua" "$url_recognize"
  done
done

log "2. variants: recognize_bytes, 2 threads, no connection reuse, curl with a prebuilt body (${var_concs[*]} concurrent)"
for r in $(seq "$runs"); do
  for c in "${var_concs[@]}"; do
    run --suite variant --client carcheck_bytes --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/carcheck_bench_client" --endpoint "$endpoint" --ca-file "$work/cert.pem" \
      --file "$work/car.jpg" --requests "$max_req" --duration "$dur" --concurrency "$c" --mode bytes
    run --suite variant --client carcheck_threads2 --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/carcheck_bench_client" --endpoint "$endpoint" --ca-file "$work/cert.pem" \
      --file "$work/car.jpg" --requests "$max_req" --duration "$dur" --concurrency "$c" --threads 2
    run --suite variant --client carcheck_noreuse --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/carcheck_bench_client" --endpoint "$endpoint" --ca-file "$work/cert.pem" \
      --file "$work/car.jpg" --requests "$max_req" --duration "$dur" --concurrency "$c" --no-reuse
    run --suite variant --client curl_multi_noreuse --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/peer_curl_multi" --url "$url_recognize" --cacert "$work/cert.pem" \
      --file "$work/car.jpg" --requests "$max_req" --duration "$dur" --concurrency "$c" --no-reuse
    run --suite variant --client curl_multi_prebuilt --conc "$c" --rep "$r" -- \
      "${pin_client[@]}" "$bin/peer_curl_multi" --url "$url_recognize" --cacert "$work/cert.pem" \
      --body "$work/body.bin" --content-type "$content_type" --requests "$max_req" --duration "$dur" --concurrency "$c"
  done
done

log "3. large uploads: ${large_sizes[*]} MB, multipart and base64, carcheck vs curl"
for r in $(seq "$runs"); do
  for mb in "${large_sizes[@]}"; do
    f=$work/big-$mb.bin
    run --suite large --client carcheck_multipart --size-mb "$mb" --rep "$r" --timeout 300 -- \
      "${pin_client[@]}" "$bin/carcheck_bench_upload" --endpoint "$endpoint" --ca-file "$work/cert.pem" \
      --file "$f" --mode multipart
    run --suite large --client curl_form --size-mb "$mb" --rep "$r" --timeout 300 --expect-stdout 200 -- \
      "${pin_client[@]}" curl -sS -o /dev/null -w '%{http_code}' --cacert "$work/cert.pem" \
      -F "image=@$f" "$url_recognize"
    run --suite large --client carcheck_base64 --size-mb "$mb" --rep "$r" --timeout 300 -- \
      "${pin_client[@]}" "$bin/carcheck_bench_upload" --endpoint "$endpoint" --ca-file "$work/cert.pem" \
      --file "$f" --mode base64file
    run --suite large --client base64_pipe_curl --size-mb "$mb" --rep "$r" --timeout 300 --expect-stdout 200 -- \
      "${pin_client[@]}" bash -c 'base64 -w0 "$1" | curl -sS -o /dev/null -w "%{http_code}" --cacert "$2" -X POST -H "Content-Type: text/plain" -T - "$3"' \
      _ "$f" "$work/cert.pem" "$url_bytes"
  done
done

log "4. encoders"
for r in $(seq "$runs"); do
  run --suite encode --client carcheck_encode --rep "$r" -- \
    "${pin_client[@]}" "$bin/carcheck_bench_encode" --size-mib "$enc_mib" --reps "$enc_reps" --file "$work/car.jpg" \
    --framing-reps $((quick ? 2000 : 20000))
done

log "5. scheduler: batches of $sched_batch against mock keys limited to $sched_rate requests per ${sched_window}s"
for r in $(seq "$runs"); do
  run --suite scheduler --client carcheck_scheduler --rep "$r" --timeout 300 -- \
    "${pin_client[@]}" "$bin/carcheck_bench_sched" --endpoint "http://127.0.0.1:$port_mock_http/v3" \
    --key "sched-$r" --file "$work/car.jpg" --rate "$sched_rate" --window "$sched_window" --requests "$sched_batch" \
    --timeout 240
done

log "6. pool: $pool_req requests, 16 connections, mock closes a connection after 250 requests"
for r in $(seq "$runs"); do
  run --suite pool --client carcheck_pool --conc 16 --rep "$r" --timeout 300 -- \
    "${pin_client[@]}" "$bin/carcheck_bench_client" --endpoint "https://127.0.0.1:$port_mock_https/v3" \
    --ca-file "$work/mock-ca.pem" --key bench-key --file "$work/car.jpg" --requests "$pool_req" --duration 120 \
    --concurrency 16 --max-connections 16 --warmup 0
done

# The CLI and the library take turns (which goes first alternates) and the folder is read
# into the page cache before each pair, so that neither pays for files the VM evicted since.
# The pairs are cheap (~1-2 s each): more of them than the other sections' runs.
if ((quick)); then batch_runs=3; else batch_runs=$((runs > 7 ? runs : 7)); fi
log "7. batch: carcheck CLI over $batch_images images vs the library, 64 concurrent, against carcheck-mock ($batch_runs pairs)"
batch_endpoint="https://127.0.0.1:$port_batch/v3"
batch_cli() {
  run --suite batch --client carcheck_cli --conc 64 --rep "$1" --timeout 300 --env CARCHECK_SECRET_KEY=batch-key \
    --jsonl-output "$work/batch-out.jsonl" --expect-lines "$batch_images" --expect-plates "$work/batch.plates" -- \
    "${pin_client[@]}" "$cli_bin" recognize --endpoint "$batch_endpoint" --ca-file "$work/batch-ca.pem" \
    --concurrency 64 --quiet --output "$work/batch-out.jsonl" "$work/batch"
}
batch_library() {
  run --suite batch --client carcheck_library --conc 64 --rep "$1" --timeout 300 -- \
    "${pin_client[@]}" "$bin/carcheck_bench_client" --endpoint "$batch_endpoint" --ca-file "$work/batch-ca.pem" \
    --key batch-key --files-in "$work/batch" --requests "$batch_images" --duration 240 --concurrency 64 --mode multipart \
    --warmup 0
}
for r in $(seq "$batch_runs"); do
  find "$work/batch" -type f -exec cat {} + >/dev/null
  if ((r % 2)); then batch_cli "$r"; batch_library "$r"; else batch_library "$r"; batch_cli "$r"; fi
done

# Cold storage: the same batch after dropping the page cache (root only), with the CLI's
# read-ahead (the default) and without it.
if [[ -w /proc/sys/vm/drop_caches ]]; then
  if ((quick)); then cold_runs=1; else cold_runs=3; fi
  log "7b. batch from a cold page cache: carcheck CLI with and without --read-ahead ($cold_runs pairs)"
  for r in $(seq "$cold_runs"); do
    for ra in default 0; do
      sync; echo 3 >/proc/sys/vm/drop_caches
      extra=(); client=carcheck_cli
      [[ $ra == 0 ]] && extra=(--read-ahead 0) client=carcheck_cli_no_read_ahead
      run --suite batch_cold --client "$client" --conc 64 --rep "$r" --timeout 300 --env CARCHECK_SECRET_KEY=batch-key \
        --jsonl-output "$work/batch-out.jsonl" --expect-lines "$batch_images" --expect-plates "$work/batch.plates" -- \
        "${pin_client[@]}" "$cli_bin" recognize --endpoint "$batch_endpoint" --ca-file "$work/batch-ca.pem" \
        --concurrency 64 --quiet "${extra[@]}" --output "$work/batch-out.jsonl" "$work/batch"
    done
  done
else
  log "7b. skipped: dropping the page cache needs root"
fi
rm -f "$work/batch-out.jsonl"

replicas_section
throttled_section
latency_section

compile_section

# --- 6. Report -------------------------------------------------------------------------------
log "writing the report"
args=(report --raw "$raw" --machine "$work/machine.json" --out "$bench_dir" --quick "$quick")
"${harness[@]}" "${args[@]}"
log "done: $bench_dir/RESULTS.md"
