#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole ctest suite
# (unit, MPI and end-to-end tests).
#   bash launch/test.sh [extra ctest arguments, e.g. -L mpi]
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build=${FROST_BUILD_DIR:-build}
cd "$build"
status=0
ctest --output-on-failure "$@" || status=$?
# ctest lists skipped tests without their reasons (GTEST_SKIP's message, or a test's exit 77
# line): print each distinct reason once, with how many tests gave it.
log=Testing/Temporary/LastTest.log
if [[ -f $log ]] && grep -q ': Skipped' "$log"; then
  echo "Why tests were skipped (from $build/$log):"
  awk '/: Skipped\r?$/ { getline why; gsub(/\033\[[0-9;]*m/, "", why); n[why]++ }
       END { for (w in n) printf "  %3d x %s\n", n[w], w }' "$log" | sort -rn
fi
exit "$status"
