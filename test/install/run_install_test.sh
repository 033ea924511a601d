#!/usr/bin/env bash
# The install as a user meets it, from the build tree the suite has just built:
#  1. `cmake --install` (everything, and the "library" component alone) puts each file in place;
#  2. examples/quick_start.cpp is the README's C++ block, every C++ block of the README builds
#     against the installed package with the README's CMake lines, and the quick start
#     recognizes an image through the installed carcheck-mock over TLS, returns at once, and
#     fails with one clear line (exit 1) without a key or with an unusable endpoint;
#  3. the README's pkg-config line builds the quick start; carcheck::header_only builds too;
#  4. the README's CLI lines run against the mock;
#  5. `cpack -G DEB` makes a package that declares its dependencies and whose carcheck runs;
#     as root on CI (CI=true) it is installed with apt-get, used, and removed again.
# Usage: run_install_test.sh SOURCE_DIR BUILD_DIR WORK_DIR CXX
set -euo pipefail
src=$1 build=$2 work=$3 cxx=$4
rm -rf "$work" && mkdir -p "$work"
readme="$src/README.md"
step() { echo "--- install test: $*"; }
fail() { echo "install test FAILED: $*" >&2; exit 1; }

mock_pid=
stop_mock() {
  if [[ -n "$mock_pid" ]]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  mock_pid=
}
trap stop_mock EXIT
# start_mock MOCK_EXECUTABLE KEY: sets https_port; the CA goes to $work/mock-ca.pem.
start_mock() {
  stop_mock
  "$1" --http-port 0 --https-port 0 --key "$2" --write-cert "$work/mock-ca.pem" --quiet \
    >"$work/mock.out" 2>"$work/mock.err" &
  mock_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
  https_port=$(sed -n 's/.*https=\([0-9]*\).*/\1/p' "$work/mock.out")
  [[ -n "$https_port" ]] || fail "carcheck-mock did not start: $(cat "$work/mock.err")"
}

step "cmake --install"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/carcheck/client.hpp include/carcheck/impl/client.ipp lib/libcarcheck.a \
         lib/cmake/carcheck/carcheck-config.cmake lib/pkgconfig/carcheck.pc bin/carcheck bin/carcheck-mock; do
  [[ -e "$prefix/$f" ]] || fail "cmake --install did not install $f"
done
cmake --install "$build" --prefix "$work/library-only" --component library >/dev/null
[[ -f "$work/library-only/lib/libcarcheck.a" ]] || fail "the library component lacks libcarcheck.a"
[[ ! -e "$work/library-only/bin" ]] || fail "the library component installed executables"

step "README: the quick start is examples/quick_start.cpp"
blocks="$work/readme"
n_cpp=$(python3 "$src/test/install/readme_blocks.py" "$readme" cpp "$blocks")
python3 "$src/test/install/readme_blocks.py" "$readme" cmake "$blocks" >/dev/null
python3 "$src/test/install/readme_blocks.py" "$readme" sh "$blocks" >/dev/null
((n_cpp >= 1)) || fail "README.md has no C++ block"
cmp -s "$blocks/block-1.cpp" "$src/examples/quick_start.cpp" ||
  fail "README's quick start differs from examples/quick_start.cpp: $(diff "$blocks/block-1.cpp" "$src/examples/quick_start.cpp" | head -5)"
grep -q 'find_package(carcheck CONFIG REQUIRED)' "$blocks/block-1.cmake" || fail "README's CMake block lacks find_package"

step "README: every C++ block builds with the README's CMake lines"
consumer="$work/readme-consumer"
mkdir -p "$consumer"
{
  echo "cmake_minimum_required(VERSION 3.22)"
  echo "project(readme_consumer LANGUAGES CXX)"
  echo "add_executable(app block-1.cpp)"
  cat "$blocks/block-1.cmake"
  for ((i = 2; i <= n_cpp; ++i)); do
    echo "add_executable(app_$i block-$i.cpp)"
    echo "target_link_libraries(app_$i PRIVATE carcheck::carcheck)"
  done
} >"$consumer/CMakeLists.txt"
cp "$blocks"/block-*.cpp "$consumer/"
cmake -S "$consumer" -B "$consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$consumer/build" >/dev/null
quick_start="$consumer/build/app"

step "the quick start against the installed carcheck-mock over TLS"
start_mock "$prefix/bin/carcheck-mock" demo-key
python3 "$src/tools/make_sample_images.py" "$work/photos" --count 6 >"$work/plates.txt"
cp "$work/photos/car-0001.jpg" "$work/car.jpg"
expected_plate=$(sed -n '1s/.* //p' "$work/plates.txt")
started=$(date +%s%N)
out=$(cd "$work" && CARCHECK_SECRET_KEY=demo-key CARCHECK_ENDPOINT="https://127.0.0.1:$https_port/v3" \
        CARCHECK_CA_FILE="$work/mock-ca.pem" timeout 20 "$quick_start") || fail "quick start exited with $?"
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
[[ "$out" == "$expected_plate "* ]] || fail "quick start printed '$out', expected plate $expected_plate"
# The program returns when its work is done (it used to wait for the idle timeout, ~50 s).
((elapsed_ms < 5000)) || fail "quick start took $elapsed_ms ms to exit"
echo "quick start: '$out' in $elapsed_ms ms"

set +e
msg=$(env -u CARCHECK_SECRET_KEY "$quick_start" "$work/car.jpg" 2>&1 >/dev/null); status=$?
set -e
[[ $status == 1 && $(wc -l <<<"$msg") == 1 && "$msg" == *CARCHECK_SECRET_KEY* ]] ||
  fail "without a key: status $status, message '$msg'"
for bad in "https://127.0.0.1:99999/v3" "ftp://127.0.0.1/v3" "http://example.com/v3"; do
  set +e
  msg=$(CARCHECK_SECRET_KEY=demo-key CARCHECK_ENDPOINT="$bad" timeout 20 "$quick_start" "$work/car.jpg" 2>&1 >/dev/null); status=$?
  set -e
  [[ $status == 1 && $(wc -l <<<"$msg") == 1 && "$msg" == quick_start:* ]] ||
    fail "endpoint $bad: status $status, message '$msg'"
done
set +e
msg=$(CARCHECK_SECRET_KEY=demo-key CARCHECK_ENDPOINT="https://127.0.0.1:$https_port/v3" \
      CARCHECK_CA_FILE="$work/missing-ca.pem" timeout 20 "$quick_start" "$work/car.jpg" 2>&1 >/dev/null); status=$?
set -e
[[ $status == 1 && "$msg" == *missing-ca.pem* ]] || fail "missing CA file: status $status, message '$msg'"
set +e
msg=$(CARCHECK_SECRET_KEY=wrong-key CARCHECK_ENDPOINT="https://127.0.0.1:$https_port/v3" \
      CARCHECK_CA_FILE="$work/mock-ca.pem" timeout 20 "$quick_start" "$work/car.jpg" 2>&1 >/dev/null); status=$?
set -e
[[ $status == 1 && "$msg" == *"HTTP 401"* && "$msg" != *wrong-key* ]] || fail "wrong key: status $status, message '$msg'"

step "README: the pkg-config line"
pkg_line=$(grep -h '^g++ .*pkg-config --cflags --libs carcheck' "$blocks"/block-*.sh | head -1)
[[ -n "$pkg_line" ]] || fail "README has no pkg-config line"
cp "$src/examples/quick_start.cpp" "$work/app.cpp"
(cd "$work" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CXX="$cxx" bash -c "${pkg_line/g++/\$CXX}")
out=$(cd "$work" && CARCHECK_SECRET_KEY=demo-key CARCHECK_ENDPOINT="https://127.0.0.1:$https_port/v3" \
        CARCHECK_CA_FILE="$work/mock-ca.pem" timeout 20 ./app car.jpg) || fail "pkg-config build exited with $?"
[[ "$out" == "$expected_plate "* ]] || fail "pkg-config build printed '$out'"

step "carcheck::header_only"
cmake -S "$src/test/install/consumer" -B "$work/header-only" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCARCHECK_TARGET=carcheck::header_only -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$work/header-only" >/dev/null
"$work/header-only/consumer"

step "README: the command-line tool's lines"
# The CLI examples block: the key is the README's placeholder, which this mock accepts.
cli_block=$(grep -l '^carcheck config' "$blocks"/block-*.sh | head -1)
[[ -n "$cli_block" ]] || fail "README has no CLI example block"
start_mock "$prefix/bin/carcheck-mock" 'sk_...'
mkdir -p "$work/cli" && cp -r "$work/photos" "$work/cli/"
export PATH="$prefix/bin:$PATH" CARCHECK_ENDPOINT="https://127.0.0.1:$https_port/v3" CARCHECK_CA_FILE="$work/mock-ca.pem"
while IFS= read -r line; do
  [[ -z "$line" ]] && continue
  command=${line%%#*}
  if [[ "$line" == export* ]]; then
    eval "$command"
    [[ "$CARCHECK_SECRET_KEY" == 'sk_...' ]] || fail "README's export line sets '$CARCHECK_SECRET_KEY'"
    continue
  fi
  set +e
  (cd "$work/cli" && bash -c "set -o pipefail; $command" </dev/null >"$work/cli/last.out" 2>"$work/cli/last.err")
  status=$?
  set -e
  case "$line" in
    # The mock fetches only loopback http:// URLs: the service-side refusal is a result line.
    *--url*) [[ $status == 1 ]] && grep -q '"ok":false' "$work/cli/last.out" || fail "'$line': status $status" ;;
    *) [[ $status == 0 ]] || fail "'$line': status $status: $(cat "$work/cli/last.err")" ;;
  esac
  echo "ok ($status): $line"
done <"$cli_block"
unset CARCHECK_SECRET_KEY
[[ $(wc -l <"$work/cli/plates.jsonl") == 6 ]] || fail "plates.jsonl has $(wc -l <"$work/cli/plates.jsonl") lines"
[[ $(wc -l <"$work/cli/plates.csv") == 7 ]] || fail "plates.csv has $(wc -l <"$work/cli/plates.csv") lines"
unset CARCHECK_ENDPOINT CARCHECK_CA_FILE

# The mock demo block: carcheck-mock on port 0, then carcheck against the port it printed.
demo_block=$(grep -l '^carcheck-mock ' "$blocks"/block-*.sh | head -1)
[[ -n "$demo_block" ]] || fail "README has no mock demo block"
stop_mock
mock_line=$(grep '^carcheck-mock ' "$demo_block")
(cd "$work" && bash -c "${mock_line/\/tmp\/mock-ca.pem/$work/mock-ca.pem}" >"$work/mock.out" 2>"$work/mock.err")
sleep 0.2
mock_pid=$(pgrep -n -f "carcheck-mock --http-port 0 --https-port 0 --key demo-key") || fail "demo mock did not start"
for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
https_port=$(sed -n 's/.*https=\([0-9]*\).*/\1/p' "$work/mock.out")
[[ -n "$https_port" ]] || fail "demo mock printed no port"
readme_port=$(sed -n 's/.*https=\([0-9]*\).*/\1/p' "$demo_block")
run_line=$(sed -n '/^CARCHECK_SECRET_KEY=demo-key carcheck/,/images\//p' "$demo_block" | tr -d '\\\n')
run_line=${run_line//$readme_port/$https_port}
run_line=${run_line//\/tmp\/mock-ca.pem/$work/mock-ca.pem}
mkdir -p "$work/demo" && cp -r "$work/photos" "$work/demo/images"
(cd "$work/demo" && bash -c "$run_line" >"$work/demo/out.jsonl" 2>/dev/null) || fail "demo line: status $?"
[[ $(grep -c '"ok":true' "$work/demo/out.jsonl") == 6 ]] || fail "demo line did not recognize the 6 images"
stop_mock

step "Debian package"
pkgdir="$work/deb"
(cd "$build" && cpack -G DEB -B "$pkgdir" >/dev/null)
deb=$(ls "$pkgdir"/carcheck_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
for d in libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev; do
  [[ "$depends" == *"$d"* ]] || fail "package does not depend on $d: $depends"
done
dpkg-deb -x "$deb" "$work/root"
for f in usr/bin/carcheck usr/bin/carcheck-mock usr/include/carcheck/client.hpp usr/lib/libcarcheck.a \
         usr/lib/cmake/carcheck/carcheck-config.cmake usr/lib/pkgconfig/carcheck.pc; do
  [[ -e "$work/root/$f" ]] || fail "package lacks /$f"
done
"$work/root/usr/bin/carcheck" --help | grep -q 'carcheck recognize' || fail "packaged carcheck --help"
if [[ "${CI:-}" == true && $(id -u) == 0 ]] && ! dpkg-query -W carcheck >/dev/null 2>&1; then
  step "apt-get install ./$(basename "$deb") (CI, root)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" </dev/null >/dev/null
  carcheck --help | grep -q 'carcheck recognize' || fail "installed carcheck --help"
  cmake -S "$src/test/install/consumer" -B "$work/system-consumer" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
  cmake --build "$work/system-consumer" >/dev/null
  "$work/system-consumer/consumer"
  "$cxx" -o "$work/system-app" "$work/app.cpp" $(pkg-config --cflags --libs carcheck)
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq carcheck </dev/null >/dev/null
fi
echo "install test passed"
