#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite twice: in a normal build and
# in an AddressSanitizer + UndefinedBehaviorSanitizer build; then the pool, scheduler and
# multi-threaded suites once more under ThreadSanitizer; then each libFuzzer target for a
# short time from its corpus (clang 14, ASan + UBSan; CARCHECK_FUZZ_SECONDS each, default 30).
# Exits non-zero on any failure.
# Give preset names as arguments to run only those (e.g. `bash scripts/test.sh default`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

presets=(default asan tsan fuzz)
if [[ $# -gt 0 ]]; then presets=("$@"); fi

for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure, build, test ==="
  start=$(date +%s)
  if [[ $preset == fuzz ]]; then
    bash scripts/fuzz.sh "${CARCHECK_FUZZ_SECONDS:-30}"
  else
    cmake --preset "${preset}" >/dev/null
    cmake --build --preset "${preset}"
    ctest --preset "${preset}"
  fi
  echo "=== ${preset}: done in $(( $(date +%s) - start )) s ==="
done
