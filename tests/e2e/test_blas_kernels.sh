#!/usr/bin/env bash
# frost-train runs OpenBLAS with the kernels the CPU supports: when OpenBLAS's DYNAMIC_ARCH
# detection falls back to generic kernels (a CPU newer than the library), frost-train sets
# OPENBLAS_CORETYPE and re-executes itself (frost::use_native_blas_kernels); a user's own
# OPENBLAS_CORETYPE is kept. OPENBLAS_VERBOSE=2 makes OpenBLAS print "Core: NAME" at each load.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
if ! ldd "$T" | grep -q "libblas.so.3\|openblas"; then echo "SKIP: frost-train links no BLAS"; exit 77; fi
OPENBLAS_VERBOSE=2 "$T" --help > "$WORK/help.out" 2>&1 || { cat "$WORK/help.out"; fail "frost-train --help"; }
if ! grep -q "^Core: " "$WORK/help.out"; then echo "SKIP: the BLAS is not OpenBLAS (no 'Core:' line)"; exit 77; fi
last=$(grep "^Core: " "$WORK/help.out" | tail -1 | awk '{print tolower($2)}')
flags=$(grep -m1 "^flags" /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
  [[ " skylakex cooperlake sapphirerapids " == *" $last "* ]] || { cat "$WORK/help.out"; fail "AVX-512 CPU but OpenBLAS runs '$last' kernels"; }
elif has avx2 && has fma; then
  [[ " haswell zen skylakex cooperlake sapphirerapids " == *" $last "* ]] || { cat "$WORK/help.out"; fail "AVX2 CPU but OpenBLAS runs '$last' kernels"; }
else
  echo "SKIP: the CPU has neither AVX-512 nor AVX2"; exit 77
fi
pass "OpenBLAS runs '$last' kernels (loads: $(grep -c '^Core: ' "$WORK/help.out"))"
# The user's choice wins, without a notice.
OPENBLAS_VERBOSE=2 OPENBLAS_CORETYPE=Haswell "$T" --help > "$WORK/user.out" 2>&1 || fail "frost-train --help with OPENBLAS_CORETYPE"
[[ $(grep -c "^Core: " "$WORK/user.out") -eq 1 ]] || { cat "$WORK/user.out"; fail "re-executed although OPENBLAS_CORETYPE was set"; }
expect_in "$WORK/user.out" "Core: Haswell"
grep -q "restarting with OPENBLAS_CORETYPE" "$WORK/user.out" && fail "notice printed although OPENBLAS_CORETYPE was set"
pass "a user's OPENBLAS_CORETYPE is kept"
echo "e2e blas kernels: PASS"
