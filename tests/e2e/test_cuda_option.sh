#!/usr/bin/env bash
# FROST_WITH_CUDA=ON must fail the configure step with a message until the NCCL backend exists:
# a build that accepted the option would silently be a CPU build. The check runs before any
# find_package, so this takes seconds.
source "$(dirname "$0")/lib.sh"
if cmake -S "$FROST_SRC" -B "$WORK/build" -DFROST_WITH_CUDA=ON > "$WORK/out.txt" 2>&1; then
  cat "$WORK/out.txt"; fail "cmake -DFROST_WITH_CUDA=ON configured"
fi
expect_in "$WORK/out.txt" "FROST_WITH_CUDA=ON: this version of Frost has no CUDA code yet"
[[ ! -f "$WORK/build/Makefile" ]] || fail "a Makefile was generated"
pass "FROST_WITH_CUDA=ON refused at configure"
