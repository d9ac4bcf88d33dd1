#!/usr/bin/env bash
# Installs Frost's dependencies (when missing) and builds it into build/:
#   * Debian packages (apt-get);
#   * LibTorch 2.11 (PyPI's torch==2.11.0 wheel, CUDA 13.0 build; runs on machines without a
#     GPU) into the virtual environment .cache/venv (launch/requirements-torch.txt), whose
#     Python also runs the tests' and benchmarks' PyTorch scripts, and the Python tools'
#     packages (launch/requirements-tools.txt: TensorBoard, matplotlib) into the same venv;
#   * the pretrained model and text corpus (launch/fetch_assets.sh).
#   bash launch/setup.sh              # install + configure + build (Release with debug info)
#   bash launch/setup.sh --no-install # no root, no downloads: check and report what is missing
#                                     # (launch/check_deps.sh, with what to load or set instead),
#                                     # then configure + build with what is there; exits 1 with
#                                     # the list, building nothing, when something required is
#                                     # missing. Never calls apt-get, pip or sudo.
# Environment: FROST_BUILD_DIR (default build), FROST_JOBS (default nproc), FROST_VENV (default
# .cache/venv), FROST_LIBTORCH (a LibTorch >= 2.1 of your own, e.g. a cluster module's: the
# folder holding share/cmake/Torch; default: the venv's torch).
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "frost setup: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
venv=${FROST_VENV:-$PWD/.cache/venv}

if ((install == 0)); then
  # Dependencies come from the environment (modules, prefixes): find_package reads
  # CMAKE_PREFIX_PATH and the <Package>_ROOT variables from it (CMake policy CMP0074).
  bash launch/check_deps.sh ||
    { echo "frost setup: nothing was built (--no-install: load or set the missing dependencies above)" >&2; exit 1; }
  libtorch=${FROST_LIBTORCH:-}
  if [[ -z $libtorch ]]; then
    libtorch=$("$venv/bin/python" -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')
  fi
  python=python3
  [[ -x $venv/bin/python ]] && python=$venv/bin/python
  build=${FROST_BUILD_DIR:-build}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$libtorch" \
    -DFROST_PYTHON="$python" >/dev/null
  cmake --build "$build" -j "${FROST_JOBS:-$(nproc)}"
  echo "frost setup: built into $build/ (--no-install)" >&2
  exit 0
fi

packages=(
  build-essential cmake ccache pkg-config
  libopenmpi-dev openmpi-bin
  libhdf5-dev zlib1g-dev
  libboost-program-options-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libutf8proc-dev         # Unicode tables for the WordPiece tokenizer
  libjpeg62-turbo-dev libpng-dev  # JPEG/PNG decoding: frost-prep images
  clang libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes: tests/fuzz.sh (ctest -L fuzz)
  dataset-fashion-mnist
  python3 python3-h5py python3-numpy  # test helpers read HDF5 files back
  python3-venv python3-pip  # .cache/venv (LibTorch, torchvision) and launch/fetch_assets.sh
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

# LibTorch 2.11 from PyPI into the venv; reinstalled when launch/requirements-torch.txt changes.
stamp=$venv/.frost-requirements
if ! cmp -s launch/requirements-torch.txt "$stamp" 2>/dev/null; then
  echo "frost setup: installing LibTorch 2.11 (torch==2.11.0 from PyPI) into $venv" >&2
  [[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
  if [[ -e /usr/local/cuda/lib64/libcudart.so ]] || command -v nvcc >/dev/null 2>&1; then
    # The CUDA toolkit provides cudart, cuBLAS, cuDNN and NCCL: only the pinned set is needed.
    "$venv/bin/pip" install --quiet --no-deps -r launch/requirements-torch.txt
  else
    # No toolkit: torch's own nvidia-* dependencies (several GB) provide the CUDA libraries.
    "$venv/bin/pip" install --quiet torch==2.11.0 torchvision==0.26.0 numpy h5py
  fi
  "$venv/bin/python" -c 'import torch, torchvision, h5py' ||
    { echo "frost setup: error: the venv $venv cannot import torch (see pip's output above)" >&2; exit 1; }
  cp launch/requirements-torch.txt "$stamp"
fi
# The Python tools' packages (launch/frost-log: TensorBoard; launch/frost-plot: matplotlib;
# launch/export_backbone.py: timm), all pinned; reinstalled when launch/requirements-tools.txt
# changes.
tools_stamp=$venv/.frost-requirements-tools
if ! cmp -s launch/requirements-tools.txt "$tools_stamp" 2>/dev/null; then
  echo "frost setup: installing launch/requirements-tools.txt (TensorBoard, matplotlib, timm) into $venv" >&2
  "$venv/bin/pip" install --quiet --no-deps -r launch/requirements-tools.txt
  "$venv/bin/python" -c 'import tensorboard.summary, matplotlib, timm' ||
    { echo "frost setup: error: the venv $venv cannot import tensorboard, matplotlib or timm (see pip's output above)" >&2; exit 1; }
  cp launch/requirements-tools.txt "$tools_stamp"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
libtorch=${FROST_LIBTORCH:-$site/torch}

# Pretrained model and text corpus (no hub downloads at run time): into .cache/.
bash launch/fetch_assets.sh

build=${FROST_BUILD_DIR:-build}
jobs=${FROST_JOBS:-$(nproc)}
# CMAKE_PREFIX_PATH is torch's folder, not torch/share/cmake: with the latter, CMake finds
# Torch's config but may link a system LibTorch's libraries (CMakeLists.txt checks the version).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$libtorch" \
  -DFROST_PYTHON="$venv/bin/python" >/dev/null
cmake --build "$build" -j "$jobs"
echo "frost setup: built into $build/" >&2
