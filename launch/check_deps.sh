#!/usr/bin/env bash
# Checks, without installing anything, that Frost's build and test dependencies can be found,
# and prints what is missing with what to load or set instead (launch/setup.sh --no-install
# runs it before building; docs/launch.md#building-on-a-cluster-without-root).
#
#   bash launch/check_deps.sh
#
# Looks where CMake will look: the prefixes in CMAKE_PREFIX_PATH (':'-separated, as a module
# sets it), the package roots (MPI_HOME, HDF5_ROOT, BOOST_ROOT, spdlog_ROOT, nlohmann_json_ROOT,
# GTest_ROOT, ZLIB_ROOT, JPEG_ROOT, PNG_ROOT, fmt_ROOT), the folder above each PATH entry, and the
# system prefixes FROST_SYSTEM_PREFIXES (default "/usr/local /usr"); headers also in CPATH and
# CPLUS_INCLUDE_PATH, pkg-config files also in PKG_CONFIG_PATH. LibTorch: FROST_LIBTORCH (a
# folder holding share/cmake/Torch), else the torch package of the venv FROST_VENV (default
# .cache/venv). Never calls apt-get, pip or sudo, and writes nothing.
#
# Output: one line per dependency, "ok" or "MISSING" (required to build: the exit status is 1
# and the last line lists them) or "absent" (needed by part of the test suite or a demo; the
# exit status stays 0).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[[ -n $multiarch ]] || multiarch=x86_64-linux-gnu

# ---- where to look ---------------------------------------------------------------------------
prefixes=()
add_prefix() { [[ -n $1 && -d $1 ]] && prefixes+=("${1%/}"); return 0; }
IFS=: read -r -a cpp <<< "${CMAKE_PREFIX_PATH:-}"
for p in "${cpp[@]}"; do add_prefix "$p"; done
for v in MPI_HOME HDF5_ROOT BOOST_ROOT Boost_ROOT spdlog_ROOT nlohmann_json_ROOT GTest_ROOT \
         ZLIB_ROOT JPEG_ROOT PNG_ROOT fmt_ROOT; do
  add_prefix "${!v:-}"
done
IFS=: read -r -a path_dirs <<< "${PATH:-}"
for d in "${path_dirs[@]}"; do [[ -n $d ]] && add_prefix "$(dirname "$d")"; done
read -r -a system_prefixes <<< "${FROST_SYSTEM_PREFIXES-/usr/local /usr}"
for p in "${system_prefixes[@]}"; do add_prefix "$p"; done

include_dirs=()
for p in "${prefixes[@]}"; do
  include_dirs+=("$p/include" "$p/include/$multiarch" "$p/include/hdf5/serial")
done
IFS=: read -r -a extra <<< "${CPATH:-}:${CPLUS_INCLUDE_PATH:-}"
for d in "${extra[@]}"; do [[ -n $d ]] && include_dirs+=("$d"); done
lib_dirs=()
for p in "${prefixes[@]}"; do
  lib_dirs+=("$p/lib" "$p/lib64" "$p/lib/$multiarch" "$p/lib/$multiarch/hdf5/serial")
done

find_header() {  # NAME -> path of the first include folder holding it
  local d
  for d in "${include_dirs[@]}"; do [[ -f $d/$1 ]] && { echo "$d/$1"; return 0; }; done
  return 1
}
find_lib() {  # NAME... (without lib and suffix) -> the first lib<NAME>.so or .a found
  local d n
  for n in "$@"; do
    for d in "${lib_dirs[@]}"; do
      for f in "$d/lib$n.so" "$d/lib$n.a"; do [[ -e $f ]] && { echo "$f"; return 0; }; done
    done
  done
  return 1
}
find_config() {  # PACKAGE -> its CMake package configuration file (find_package's config mode)
  local p d f lower
  lower=$(tr '[:upper:]' '[:lower:]' <<< "$1")
  for p in "${prefixes[@]}"; do
    for d in "$p/lib/cmake/$1" "$p/lib64/cmake/$1" "$p/lib/$multiarch/cmake/$1" \
             "$p/share/cmake/$1" "$p/share/$1/cmake" "$p/lib/cmake/$lower" "$p/share/cmake/$lower"; do
      for f in "$d/$1Config.cmake" "$d/$lower-config.cmake"; do
        [[ -f $f ]] && { echo "$f"; return 0; }
      done
    done
  done
  return 1
}
find_pc() {  # MODULE -> its pkg-config file
  local d
  IFS=: read -r -a pcs <<< "${PKG_CONFIG_PATH:-}"
  for d in "${pcs[@]}"; do [[ -n $d && -f $d/$1.pc ]] && { echo "$d/$1.pc"; return 0; }; done
  for d in "${lib_dirs[@]}"; do [[ -f $d/pkgconfig/$1.pc ]] && { echo "$d/pkgconfig/$1.pc"; return 0; }; done
  for p in "${prefixes[@]}"; do [[ -f $p/share/pkgconfig/$1.pc ]] && { echo "$p/share/pkgconfig/$1.pc"; return 0; }; done
  return 1
}

# ---- the report ------------------------------------------------------------------------------
missing_required=()
missing_optional=()
ok() { printf '  ok       %-22s %s\n' "$1" "$2"; }
missing() {  # NAME WHAT-WAS-LOOKED-FOR HINT
  printf '  MISSING  %-22s %s not found; %s\n' "$1" "$2" "$3"
  missing_required+=("$1")
}
absent() {  # NAME WHAT-WAS-LOOKED-FOR HINT (needed by part of the tests or a demo only)
  printf '  absent   %-22s %s not found; %s\n' "$1" "$2" "$3"
  missing_optional+=("$1")
}
# hint MODULE ROOT-VARIABLE DEBIAN-PACKAGE
hint() {
  echo "load your site's module (module load $1) or set $2=<its prefix> or add the prefix to CMAKE_PREFIX_PATH [Debian: $3]"
}
# check_lib NAME HEADER "LIBS" MODULE ROOT DEBIAN
check_lib() {
  local h l
  if ! h=$(find_header "$2"); then missing "$1" "$2" "$(hint "$4" "$5" "$6")"; return; fi
  # shellcheck disable=SC2086
  if ! l=$(find_lib $3); then missing "$1" "lib$(cut -d' ' -f1 <<< "$3").so" "$(hint "$4" "$5" "$6")"; return; fi
  ok "$1" "$h, $l"
}
# check_config NAME PACKAGE MODULE DEBIAN
check_config() {
  local f
  if f=$(find_config "$2"); then ok "$1" "$f"
  else missing "$1" "$2Config.cmake" "$(hint "$3" "$2_ROOT" "$4")"; fi
}

echo "frost: checking Frost's dependencies (nothing is installed)"
echo "build (required):"

cxx=${CXX:-c++}
if command -v "$cxx" > /dev/null 2>&1; then ok "C++17 compiler" "$(command -v "$cxx")"
else missing "C++17 compiler" "$cxx" "load a GCC >= 9 or Clang >= 10 module, or set CXX=<compiler> [Debian: build-essential]"; fi

if command -v cmake > /dev/null 2>&1; then
  v=$(cmake --version | awk 'NR == 1 { print $3 }')
  if printf '3.18\n%s\n' "$v" | sort -V -C; then ok "CMake >= 3.18" "$(command -v cmake) ($v)"
  else missing "CMake >= 3.18" "CMake >= 3.18 (found $v)" "load a newer cmake module, or pip install --user cmake"; fi
else
  missing "CMake >= 3.18" "cmake" "load a cmake module, or pip install --user cmake [Debian: cmake]"
fi

if command -v pkg-config > /dev/null 2>&1 || command -v pkgconf > /dev/null 2>&1; then
  ok "pkg-config" "$(command -v pkg-config || command -v pkgconf)"
else missing "pkg-config" "pkg-config" "load a pkgconf module [Debian: pkg-config]"; fi

# FindMPI asks the compiler wrapper; MPI_HOME/bin is where it looks first.
mpicc=""
if [[ -n ${MPI_HOME:-} && -x $MPI_HOME/bin/mpicc ]]; then mpicc=$MPI_HOME/bin/mpicc
elif command -v mpicc > /dev/null 2>&1; then mpicc=$(command -v mpicc); fi
if [[ -n $mpicc ]]; then ok "MPI (mpicc)" "$mpicc"
else missing "MPI (mpicc)" "mpicc" "load an OpenMPI module built with MPI_THREAD_MULTIPLE (module load openmpi), or set MPI_HOME=<prefix> [Debian: libopenmpi-dev]"; fi

# FindHDF5 looks only in HDF5_ROOT when it is set, else asks the h5cc wrapper on PATH.
if [[ -n ${HDF5_ROOT:-} ]]; then
  check_lib "HDF5 (C)" hdf5.h "hdf5 hdf5_serial" hdf5 HDF5_ROOT libhdf5-dev
elif command -v h5cc > /dev/null 2>&1; then ok "HDF5 (C)" "$(command -v h5cc)"
else check_lib "HDF5 (C)" hdf5.h "hdf5 hdf5_serial" hdf5 HDF5_ROOT libhdf5-dev; fi
check_lib "Boost.Program_options" boost/program_options.hpp boost_program_options boost BOOST_ROOT libboost-program-options-dev
check_config "spdlog" spdlog spdlog libspdlog-dev
check_config "nlohmann_json" nlohmann_json nlohmann-json nlohmann-json3-dev
check_lib "zlib" zlib.h z zlib ZLIB_ROOT zlib1g-dev
check_lib "libjpeg(-turbo)" jpeglib.h "jpeg turbojpeg" libjpeg-turbo JPEG_ROOT libjpeg62-turbo-dev
check_lib "libpng" png.h "png png16" libpng PNG_ROOT libpng-dev
if f=$(find_pc libutf8proc); then ok "utf8proc" "$f"
else missing "utf8proc" "libutf8proc.pc" "load a utf8proc module or add <prefix>/lib/pkgconfig to PKG_CONFIG_PATH (or the prefix to CMAKE_PREFIX_PATH) [Debian: libutf8proc-dev]"; fi
if f=$(find_pc libpcre2-8); then ok "PCRE2" "$f"
else missing "PCRE2" "libpcre2-8.pc" "load a pcre2 module or add <prefix>/lib/pkgconfig to PKG_CONFIG_PATH (or the prefix to CMAKE_PREFIX_PATH) [Debian: libpcre2-dev]"; fi
if f=$(find_config GTest); then ok "GoogleTest + GMock" "$f"
else check_lib "GoogleTest + GMock" gmock/gmock.h "gmock gtest" googletest GTest_ROOT "libgtest-dev libgmock-dev"; fi

# LibTorch: FROST_LIBTORCH, else the venv's torch (launch/setup.sh's choice).
venv=${FROST_VENV:-$repo/.cache/venv}
libtorch=${FROST_LIBTORCH:-}
if [[ -z $libtorch && -x $venv/bin/python ]]; then
  # find_spec locates the package without importing it (importing torch takes seconds).
  libtorch=$("$venv/bin/python" -c 'import importlib.util as u; s = u.find_spec("torch"); print(s.submodule_search_locations[0] if s else "")' 2>/dev/null || true)
fi
torch_hint="set FROST_LIBTORCH=<the folder holding share/cmake/Torch> (a site module's LibTorch, or an unpacked LibTorch zip from pytorch.org), or make the venv: python3 -m venv $venv && $venv/bin/pip install torch==2.11.0 torchvision==0.26.0 numpy h5py"
if [[ -n $libtorch && -f $libtorch/share/cmake/Torch/TorchConfig.cmake ]]; then
  v=$(sed -n 's/^ *set(PACKAGE_VERSION "\([0-9.]*\).*/\1/p' "$libtorch/share/cmake/Torch/TorchConfigVersion.cmake" 2>/dev/null | head -1)
  if [[ -z $v ]] || printf '2.1\n%s\n' "$v" | sort -V -C; then ok "LibTorch >= 2.1" "$libtorch${v:+ ($v)}"
  else missing "LibTorch >= 2.1" "LibTorch >= 2.1 (found $v at $libtorch)" "$torch_hint"; fi
else
  missing "LibTorch >= 2.1" "${libtorch:+$libtorch/}share/cmake/Torch/TorchConfig.cmake" "$torch_hint"
fi

echo "tests and demos (the parts that need one fail or skip without it):"
if command -v mpirun > /dev/null 2>&1; then ok "mpirun" "$(command -v mpirun)"
else absent "mpirun" "mpirun" "the MPI and end-to-end tests launch ranks with it: load the OpenMPI module [Debian: openmpi-bin]"; fi
if [[ -x $venv/bin/python ]]; then
  # One interpreter for the four: each module found (not imported) or not.
  found=$("$venv/bin/python" -c 'import importlib.util as u, sys
print(" ".join(m for m in sys.argv[1:] if u.find_spec(m)))' torch torchvision numpy h5py 2>/dev/null || true)
  for m in torch torchvision numpy h5py; do
    if [[ " $found " == *" $m "* ]]; then ok "venv: $m" "$venv/bin/python"
    else absent "venv: $m" "module $m in $venv" "the tests' PyTorch scripts import it: $venv/bin/pip install torch==2.11.0 torchvision==0.26.0 numpy h5py (or FROST_VENV=<a venv that has it>)"; fi
  done
else
  absent "venv" "$venv/bin/python" "the tests' PyTorch scripts run in it: python3 -m venv $venv && $venv/bin/pip install torch==2.11.0 torchvision==0.26.0 numpy h5py (or FROST_VENV=<a venv of your own>)"
fi
if [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import importlib.util as u, sys
sys.exit(not (u.find_spec("h5py") and u.find_spec("numpy")))' > /dev/null 2>&1; then
  ok "python3: h5py, numpy" "/usr/bin/python3"
else
  absent "python3: h5py, numpy" "/usr/bin/python3 with h5py and numpy" "the test helpers read HDF5 files with it [Debian: python3-h5py python3-numpy]"
fi
assets=${FROST_ASSETS_DIR:-$repo/.cache}
have=1
for f in config.json model.safetensors vocab.txt tokenizer.json; do
  [[ -s $assets/models/all-MiniLM-L6-v2/$f ]] || have=0
done
if ((have)); then ok "model all-MiniLM-L6-v2" "$assets/models/all-MiniLM-L6-v2"
else absent "model all-MiniLM-L6-v2" "$assets/models/all-MiniLM-L6-v2" "the text demo and tests use it: bash launch/fetch_assets.sh (downloads, no root; or copy .cache/models from another checkout)"; fi
if [[ -s $assets/data/sentence-polarity.csv ]]; then ok "sentence-polarity.csv" "$assets/data/sentence-polarity.csv"
else absent "sentence-polarity.csv" "$assets/data/sentence-polarity.csv" "the text demo uses it: bash launch/fetch_assets.sh"; fi
if [[ -s ${FROST_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz ]]; then
  ok "Fashion-MNIST" "${FROST_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
else absent "Fashion-MNIST" "${FROST_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz" "the image demo and frost-prep tests read it [Debian: dataset-fashion-mnist]"; fi
if command -v clang++ > /dev/null 2>&1; then ok "clang++ (fuzz tests)" "$(command -v clang++)"
else absent "clang++ (fuzz tests)" "clang++" "ctest -L fuzz builds with it: load a clang module [Debian: clang libclang-rt-14-dev]"; fi
if command -v ccache > /dev/null 2>&1; then ok "ccache" "$(command -v ccache)"
else absent "ccache" "ccache" "rebuilds are slower without it [Debian: ccache]"; fi

if ((${#missing_required[@]})); then
  printf 'frost: missing, required to build: %s\n' "$(IFS=,; echo "${missing_required[*]}" | sed 's/,/, /g')"
  exit 1
fi
if ((${#missing_optional[@]})); then
  printf 'frost: everything required to build is there; absent (some tests or demos need them): %s\n' \
    "$(IFS=,; echo "${missing_optional[*]}" | sed 's/,/, /g')"
else
  echo "frost: everything is there"
fi
