#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite twice: in a normal build and
# in an AddressSanitizer + UndefinedBehaviorSanitizer build; then the pool, scheduler and
# multi-threaded suites once more under ThreadSanitizer. Exits non-zero on any failure.
# Give preset names as arguments to run only those (e.g. `bash scripts/test.sh default`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

presets=(default asan tsan)
if [[ $# -gt 0 ]]; then presets=("$@"); fi

for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure, build, test ==="
  start=$(date +%s)
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}"
  ctest --preset "${preset}"
  echo "=== ${preset}: done in $(( $(date +%s) - start )) s ==="
done
