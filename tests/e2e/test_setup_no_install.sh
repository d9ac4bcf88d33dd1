#!/usr/bin/env bash
# launch/setup.sh --no-install and launch/check_deps.sh: dependencies are looked for where CMake
# looks (CMAKE_PREFIX_PATH, <Package>_ROOT, PATH), missing ones are reported with what to load
# or set, the exit status is 1 with the list when a required one is missing, and apt-get, pip
# and sudo are never called. A fake file system of prefixes stands in for a cluster's modules;
# nothing is built.
source "$(dirname "$0")/lib.sh"
S="$FROST_SRC/launch/setup.sh"
C="$FROST_SRC/launch/check_deps.sh"

# PATH: the tools the scripts use, and apt-get/apt/sudo/pip/pip3 that record being called.
bin=$WORK/bin
mkdir -p "$bin"
for t in bash env dirname tr sed awk sort cut head cat cmake pkg-config mktemp nproc; do
  ln -s "$(command -v "$t")" "$bin/$t"
done
for t in apt-get apt sudo pip pip3 dpkg; do
  printf '#!/bin/sh\necho "%s $*" >> %s/called\n' "$t" "$WORK" > "$bin/$t"
  chmod +x "$bin/$t"
done
printf '#!/bin/sh\nexit 0\n' > "$bin/c++"
chmod +x "$bin/c++"

# A "module" prefix with some of the dependencies (empty files are enough to be found).
mod=$WORK/mod
mkfile() { mkdir -p "$(dirname "$1")" && : > "$1"; }
for f in include/boost/program_options.hpp lib/libboost_program_options.so \
         lib/cmake/spdlog/spdlogConfig.cmake share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake \
         include/zlib.h lib64/libz.so include/jpeglib.h lib/libjpeg.so include/png.h \
         lib/libpng16.so lib/pkgconfig/libutf8proc.pc lib/pkgconfig/libpcre2-8.pc \
         lib/cmake/GTest/GTestConfig.cmake; do
  mkfile "$mod/$f"
done
run_env=(env -i HOME="$WORK" PATH="$bin" FROST_SYSTEM_PREFIXES="$WORK/sys" CMAKE_PREFIX_PATH="$mod"
         FROST_VENV="$WORK/no-venv" FROST_ASSETS_DIR="$WORK/no-assets" FROST_FMNIST_DIR="$WORK/no-fmnist"
         FROST_BUILD_DIR="$WORK/build")

# ---- (1) MPI, HDF5 and LibTorch missing: exit 1, each named with its hint, nothing built
rc=0
"${run_env[@]}" FROST_LIBTORCH="$WORK/no-torch" bash "$S" --no-install > "$WORK/out1" 2>&1 || rc=$?
cat "$WORK/out1"
[[ $rc == 1 ]] || fail "setup.sh --no-install with missing dependencies exited $rc, expected 1"
expect_in "$WORK/out1" "MISSING  MPI (mpicc)"
expect_in "$WORK/out1" "module load openmpi"
expect_in "$WORK/out1" "MISSING  HDF5 (C)               hdf5.h not found"
expect_in "$WORK/out1" "set HDF5_ROOT=<its prefix>"
expect_in "$WORK/out1" "MISSING  LibTorch >= 2.1        $WORK/no-torch/share/cmake/Torch/TorchConfig.cmake not found; set FROST_LIBTORCH="
expect_in "$WORK/out1" "frost: missing, required to build: MPI (mpicc), HDF5 (C), LibTorch >= 2.1"
expect_in "$WORK/out1" "frost setup: nothing was built"
# found through CMAKE_PREFIX_PATH, lib64 and a versioned library name included
expect_in "$WORK/out1" "ok       Boost.Program_options  $mod/include/boost/program_options.hpp, $mod/lib/libboost_program_options.so"
expect_in "$WORK/out1" "ok       zlib                   $mod/include/zlib.h, $mod/lib64/libz.so"
expect_in "$WORK/out1" "ok       libpng                 $mod/include/png.h, $mod/lib/libpng16.so"
expect_in "$WORK/out1" "ok       spdlog                 $mod/lib/cmake/spdlog/spdlogConfig.cmake"
expect_in "$WORK/out1" "ok       utf8proc               $mod/lib/pkgconfig/libutf8proc.pc"
expect_in "$WORK/out1" "ok       PCRE2                  $mod/lib/pkgconfig/libpcre2-8.pc"
[[ ! -e $WORK/called ]] || fail "--no-install called: $(cat "$WORK/called")"
[[ ! -e $WORK/build ]] || fail "--no-install created the build folder though dependencies are missing"
[[ $(grep -c '^  MISSING' "$WORK/out1") == 3 ]] || fail "expected exactly 3 MISSING lines"
pass "missing MPI, HDF5 and LibTorch reported with hints; exit 1; no apt/pip/sudo; nothing built"

# ---- (2) the rest supplied through PATH (mpicc), HDF5_ROOT and FROST_LIBTORCH: exit 0, the
# test-only needs reported as absent
printf '#!/bin/sh\nexit 0\n' > "$bin/mpicc"
chmod +x "$bin/mpicc"
mkfile "$WORK/hdf5/include/hdf5.h"
mkfile "$WORK/hdf5/lib/libhdf5.so"
torch=$WORK/libtorch
mkfile "$torch/share/cmake/Torch/TorchConfig.cmake"
echo 'set(PACKAGE_VERSION "2.11.0")' > "$torch/share/cmake/Torch/TorchConfigVersion.cmake"
"${run_env[@]}" HDF5_ROOT="$WORK/hdf5" FROST_LIBTORCH="$torch" bash "$C" > "$WORK/out2" 2>&1 ||
  { cat "$WORK/out2"; fail "check_deps.sh with every required dependency exited non-zero"; }
cat "$WORK/out2"
expect_in "$WORK/out2" "ok       HDF5 (C)               $WORK/hdf5/include/hdf5.h, $WORK/hdf5/lib/libhdf5.so"
expect_in "$WORK/out2" "ok       LibTorch >= 2.1        $torch (2.11.0)"
expect_in "$WORK/out2" "ok       MPI (mpicc)            $bin/mpicc"
expect_in "$WORK/out2" "absent   mpirun"
expect_in "$WORK/out2" "absent   venv                   $WORK/no-venv/bin/python not found"
expect_in "$WORK/out2" "absent   model all-MiniLM-L6-v2 $WORK/no-assets/models/all-MiniLM-L6-v2 not found; the text demo and tests use it: bash launch/fetch_assets.sh"
expect_in "$WORK/out2" "frost: everything required to build is there; absent (some tests or demos need them): mpirun, venv,"
! grep -q '^  MISSING' "$WORK/out2" || fail "a MISSING line with every required dependency there"
[[ ! -e $WORK/called ]] || fail "check_deps.sh called: $(cat "$WORK/called")"
pass "all required dependencies found through PATH, HDF5_ROOT, CMAKE_PREFIX_PATH and FROST_LIBTORCH"

# ---- (3) a LibTorch older than 2.1 is missing, with the version found
echo 'set(PACKAGE_VERSION "1.13.1")' > "$torch/share/cmake/Torch/TorchConfigVersion.cmake"
rc=0
"${run_env[@]}" HDF5_ROOT="$WORK/hdf5" FROST_LIBTORCH="$torch" bash "$C" > "$WORK/out3" 2>&1 || rc=$?
[[ $rc == 1 ]] || { cat "$WORK/out3"; fail "LibTorch 1.13.1 accepted (exit $rc)"; }
expect_in "$WORK/out3" "MISSING  LibTorch >= 2.1        LibTorch >= 2.1 (found 1.13.1 at $torch) not found"
pass "LibTorch 1.13.1 refused"

# ---- (4) this machine, as ctest runs after the build: everything required is there
FROST_LIBTORCH=$FROST_TORCH_PREFIX bash "$C" > "$WORK/out4" 2>&1 ||
  { cat "$WORK/out4"; fail "check_deps.sh on the build machine reports a missing build dependency"; }
pass "this machine: $(tail -1 "$WORK/out4")"

# ---- (5) an unknown argument
rc=0
bash "$S" --no-instal > "$WORK/out5" 2>&1 || rc=$?
[[ $rc == 2 ]] && expect_in "$WORK/out5" "unknown argument '--no-instal'" || fail "setup.sh --no-instal exited $rc"
pass "unknown argument refused"
