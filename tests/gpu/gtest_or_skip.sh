#!/usr/bin/env bash
# gtest_or_skip.sh TEST_BINARY [gtest arguments...]: runs a gtest binary and exits 77 (ctest's
# SKIP_RETURN_CODE for the gpu.unit.* entries) when it ran no test to completion: none selected,
# or every selected test skipped itself (GTEST_SKIP, e.g. no CUDA device). Otherwise it exits
# with the binary's status, so a failure is a failure even when other tests skipped.
set -uo pipefail
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if ((rc == 0)) && grep -qE '^\[  PASSED  \] 0 tests?\.' <<<"$out"; then
  echo "gtest_or_skip.sh: no test ran to completion (all skipped or none selected): skipped"
  exit 77
fi
exit "$rc"
