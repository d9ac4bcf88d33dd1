#!/usr/bin/env bash
# FROST_WITH_CUDA, the NCCL backend's build option (top CMakeLists.txt), at configure time:
#   1. by default it is ON exactly when LibTorch has CUDA and NCCL is found (FROST_HAVE_NCCL, what
#      the build under test detected), and the configure step says which;
#   2. NCCL hidden (-DNCCL_INCLUDE_DIR=/nonexistent): the default turns OFF and configure succeeds;
#   3. NCCL hidden and -DFROST_WITH_CUDA=ON: configure fails with its message and generates
#      nothing (with a CPU-only LibTorch it fails earlier, naming LibTorch instead).
# Each configure finds LibTorch (FROST_TORCH_PREFIX), ~10 s; nothing is built.
source "$(dirname "$0")/lib.sh"
: "${FROST_TORCH_PREFIX:?run through ctest}" "${FROST_HAVE_NCCL:?run through ctest}"
configure() {  # configure BUILD_DIR OUT_FILE [cmake arguments...]
  local dir=$1 out=$2
  shift 2
  cmake -S "$FROST_SRC" -B "$dir" -DCMAKE_PREFIX_PATH="$FROST_TORCH_PREFIX" \
    -DFROST_BUILD_TESTS=OFF -DFROST_USE_PCH=OFF "$@" > "$out" 2>&1
}

configure "$WORK/default" "$WORK/default.txt" || { cat "$WORK/default.txt"; fail "default configure failed"; }
if [[ "$FROST_HAVE_NCCL" == ON ]]; then
  expect_in "$WORK/default.txt" "Frost: FROST_WITH_CUDA=ON: NCCL backend compiled in (NCCL "
  grep -q "^FROST_WITH_CUDA:BOOL=ON$" "$WORK/default/CMakeCache.txt" || fail "FROST_WITH_CUDA is not ON in the cache"
else
  expect_in "$WORK/default.txt" "Frost: FROST_WITH_CUDA=OFF: no NCCL backend"
fi
pass "default configure: FROST_WITH_CUDA=$FROST_HAVE_NCCL, said so"

configure "$WORK/hidden" "$WORK/hidden.txt" -DNCCL_INCLUDE_DIR=/nonexistent \
  || { cat "$WORK/hidden.txt"; fail "configure without NCCL failed"; }
expect_in "$WORK/hidden.txt" "Frost: FROST_WITH_CUDA=OFF: no NCCL backend"
pass "NCCL hidden: FROST_WITH_CUDA defaults to OFF"

if configure "$WORK/on" "$WORK/on.txt" -DNCCL_INCLUDE_DIR=/nonexistent -DFROST_WITH_CUDA=ON; then
  cat "$WORK/on.txt"; fail "cmake -DFROST_WITH_CUDA=ON configured without NCCL"
fi
if [[ "${FROST_TORCH_CUDA:-OFF}" == ON ]]; then
  expect_in "$WORK/on.txt" "FROST_WITH_CUDA=ON needs NCCL, which was not found (nccl.h: '/nonexistent'"
else
  expect_in "$WORK/on.txt" "FROST_WITH_CUDA=ON needs a LibTorch built with CUDA"
fi
[[ ! -f "$WORK/on/Makefile" ]] || fail "a Makefile was generated"
pass "FROST_WITH_CUDA=ON without NCCL refused at configure"
