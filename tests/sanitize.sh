#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build and run of Frost's tests
# (see docs/reliability.md, "AddressSanitizer / UndefinedBehaviorSanitizer").
#
#   bash tests/sanitize.sh                 # configure + build build-asan/, run every suite
#   FROST_ASAN_BUILD_DIR=/tmp/asan bash tests/sanitize.sh
#   FROST_SAN_JOBS=2 FROST_SAN_E2E=1 bash tests/sanitize.sh   # also the e2e scripts via ctest
#   FROST_SAN_SKIP_BUILD=1 bash tests/sanitize.sh              # rerun the tests only
#
# Builds the unit test binaries (frost_unit_<folder>_tests), frost_mpi_tests (plus frost-prep, frost-train and
# frost-bench, which the e2e scripts need) in a separate Debug build directory with
# -fsanitize=address,undefined, then runs the unit test binaries directly and the MPI
# tests at world sizes 1..4 through launch/frost-mpirun. Any sanitizer report aborts the
# process (abort_on_error=1, -fno-sanitize-recover=undefined), so the run fails on the first
# finding and the report (with its stack) is on stderr.
#
# Only Frost's code (and the header-only parts of LibTorch/gtest/spdlog it instantiates) is
# instrumented: the prebuilt libtorch, OpenMPI and HDF5 shared libraries are not, so errors
# wholly inside them go undetected, and a report whose stack is entirely inside those libraries
# is not Frost's bug: record it as a suppression/option note in docs/reliability.md rather than
# weakening the flags for Frost's own code.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${FROST_ASAN_BUILD_DIR:-build-asan}
jobs=${FROST_SAN_JOBS:-2}
san_flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# Leak detection is off: LibTorch (operator registries, thread pools, allocator caches) and
# OpenMPI (component frameworks, hwloc topology) keep global allocations alive until exit, which
# LeakSanitizer reports as leaks that are neither Frost's nor fixable here.
# abort_on_error=1: a finding kills the process with SIGABRT, so mpirun tears the job down and
# the step fails instead of a rank exiting quietly with ASan's exit code.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1${FROST_ASAN_EXTRA_OPTIONS:+:$FROST_ASAN_EXTRA_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${FROST_UBSAN_EXTRA_OPTIONS:+:$FROST_UBSAN_EXTRA_OPTIONS}"

unit_suites=(text_tests data_tests models_tests train_tests)  # tests/unit/<folder>, as tests/CMakeLists.txt
step() { printf '\n==== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

if [[ -z "${FROST_SAN_SKIP_BUILD:-}" ]]; then
  step "configure $build"
  # PRE_TEST discovery: gtest_discover_tests would otherwise run every instrumented test
  # binary at build time.
  cmake -S . -B "$build" \
    -DCMAKE_BUILD_TYPE=Debug \
    -DFROST_USE_PCH=OFF \
    -DFROST_BUILD_TESTS=ON \
    -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST \
    -DCMAKE_CXX_FLAGS="$san_flags" \
    -DCMAKE_C_FLAGS="$san_flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
  step "build ($jobs jobs)"
  t0=$SECONDS
  cmake --build "$build" -j "$jobs" --target \
    "${unit_suites[@]/#/frost_unit_}" frost_mpi_tests frost-prep frost-train frost-bench
  echo "build took $((SECONDS - t0)) s"
fi

t_run=$SECONDS
failed=()
run() {  # run NAME CMD...: run a suite, remember a failure, keep going
  local name=$1; shift
  step "$name"
  local t=$SECONDS
  if "$@"; then
    echo "---- $name: ok ($((SECONDS - t)) s)"
  else
    local rc=$?
    echo "---- $name: FAILED (exit $rc, $((SECONDS - t)) s)"
    failed+=("$name")
  fi
}

for suite in "${unit_suites[@]}"; do
  run "unit.${suite%_tests}" "$build/tests/frost_unit_$suite"
done
for np in 1 2 3 4; do
  run "mpi.world$np" launch/frost-mpirun --quiet -np "$np" "$build/tests/frost_mpi_tests" \
    "--gtest_filter=*World${np}*:*AnyWorld*"
done
if [[ -n "${FROST_SAN_E2E:-}" ]]; then
  run e2e ctest --test-dir "$build" --output-on-failure -L e2e
fi

echo
echo "tests took $((SECONDS - t_run)) s"
if ((${#failed[@]})); then
  echo "sanitize.sh: FAILED: ${failed[*]} (sanitizer reports, if any, are above: grep -n 'ERROR: AddressSanitizer\|runtime error:')"
  exit 1
fi
echo "sanitize.sh: all suites passed under ASan+UBSan"
