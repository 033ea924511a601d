#!/usr/bin/env bash
# The main job: installs what is missing, builds (release), makes a batch of sample images,
# starts the bundled mock server on loopback and recognizes the batch with the `carcheck`
# command-line tool, printing its JSON Lines and its summary. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target carcheck-mock carcheck_cli

build=build/release
work=$(mktemp -d /tmp/carcheck-demo-XXXXXX)
mock_pid=
cleanup() {
  if [[ -n "$mock_pid" ]]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

count="${CARCHECK_DEMO_IMAGES:-24}"
mkdir -p "$work/images"
if [[ -f tools/make_sample_images.py ]]; then
  python3 tools/make_sample_images.py "$work/images" --count "$count" >/dev/null
else
  # Fallback: minimal JPEG-shaped files (SOI, COM "plate=...;region=ca", EOI) the mock reads.
  python3 - "$work/images" "$count" <<'EOF'
import struct, sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    text = ("plate=DEMO%d;region=ca" % i).encode()
    data = b"\xff\xd8\xff\xfe" + struct.pack(">H", len(text) + 2) + text + b"\xff\xd9"
    open("%s/car-%04d.jpg" % (out, i), "wb").write(data)
EOF
fi

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
echo "\$ carcheck recognize --endpoint https://127.0.0.1:${https_port}/v3 --ca-file mock-ca.pem --concurrency 8 images/"
# The key comes from the environment, never from the command line. The JSON Lines go to
# stdout, progress and the summary to stderr. Exit status: 0 all succeeded, 1 some failed.
cli="$PWD/$build/tools/cli/carcheck"
status=0
(cd "$work" && CARCHECK_SECRET_KEY=demo-key "$cli" recognize \
  --endpoint "https://127.0.0.1:${https_port}/v3" --ca-file mock-ca.pem \
  --concurrency 8 images) || status=$?
echo "carcheck exited with status $status"
exit "$status"
