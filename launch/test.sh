#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole ctest suite
# (unit, MPI and end-to-end tests).
#   bash launch/test.sh [extra ctest arguments, e.g. -L mpi]
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build=${FROST_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure "$@"
