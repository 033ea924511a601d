#!/usr/bin/env bash
# The main job: installs what is missing, builds (release), makes a batch of sample images,
# starts the bundled mock server on loopback and recognizes the batch through the client,
# printing the plates. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target carcheck-mock recognize_batch

build=build/release
work=$(mktemp -d /tmp/carcheck-demo-XXXXXX)
mock_pid=
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

python3 tools/make_sample_images.py "$work/images" --count "${CARCHECK_DEMO_IMAGES:-24}"

# Port 0: the mock picks free ports and prints them on its first line.
"$build/tools/mock_server/carcheck-mock" --http-port 0 --https-port 0 --key demo-key \
  --write-cert "$work/mock-ca.pem" --quiet >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
for _ in $(seq 100); do
  grep -q listening "$work/mock.out" 2>/dev/null && break
  sleep 0.1
done
https_port=$(sed -n 's/.*https=\([0-9]*\).*/\1/p' "$work/mock.out")
if [[ -z "$https_port" ]]; then
  echo "carcheck-mock did not start:" >&2
  cat "$work/mock.err" >&2
  exit 1
fi

echo "mock server on https://127.0.0.1:${https_port}/v3; recognizing $(ls "$work/images" | wc -l) images"
CARCHECK_SECRET_KEY=demo-key "$build/examples/recognize_batch" \
  --endpoint "https://127.0.0.1:${https_port}/v3" --ca-file "$work/mock-ca.pem" \
  --concurrency 8 "$work"/images/*.jpg
