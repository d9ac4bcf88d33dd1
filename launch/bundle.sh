#!/usr/bin/env bash
# launch/bundle.sh: builds the GPU check kit, one folder to carry to a GPU node without network
# (docs/gpu.md, "The GPU check kit"). Run it where the network is; on the node:
#   source BUNDLE/env.sh; bash BUNDLE/kit/check.sh BUNDLE OUTDIR
#
#   bash launch/bundle.sh [--build-dir DIR] [--with-dev] [OUT]     (OUT: default bundle/)
#
# What it does:
#   1. builds Frost in Release against the LibTorch the node will load (the venv's torch, or
#      FROST_LIBTORCH) into its own folder (default build-bundle/), unless --build-dir names an
#      existing build (then nothing is built; its build type is recorded in the manifest);
#   2. stages into OUT: bin/ (frost-train, frost-prep, frost-bench, stripped), tests/bin/ (the
#      test binaries, stripped), tests/gpu-tests.json (the ctest entries labelled gpu, with
#      bundle-relative paths), src/ (frost-mpirun, the test fixtures and scripts), kit/ (the
#      check script and its helpers), bench/ (bench/gpu.py, bench/peers/ddp_gpu_peer.py and
#      bench/peers/ddp_peer.py, which it imports its models from: the kit's benchmark step),
#      data/ (a 3000 + 1000 image slice of Fashion-MNIST);
#   3. fetches the Debian runtime packages Frost and OpenMPI need beyond PyTorch and the C/C++
#      runtime (apt-get download, cached in .cache/bundle-debs), unpacks them with dpkg-deb -x
#      into OUT/sysroot, and checks with ldd that every library of the staged binaries, of
#      OpenMPI and of its plugins is found in OUT/sysroot, in LibTorch/CUDA, or in the base set
#      every node has (glibc, libgcc, libstdc++, zlib); a package found missing is added;
#   4. writes OUT/env.sh (PATH, LD_LIBRARY_PATH, OPAL_*/PMIX_* for the relocated OpenMPI 4.1,
#      the node's torch found through python3 or FROST_TORCH_SITE) and OUT/manifest.txt (git
#      commit, torch version, sha256 of the libtorch_cuda.so it was built against, packages);
#   5. refuses a bundle over FROST_BUNDLE_MAX_MIB (default 64) MiB.
# --with-dev also writes OUT-dev/ (a second folder, also size-checked: together they exceed the
# limit): the -dev packages as .deb files, an unpack script (ar + tar) and the source
# (frost-src.tar.gz), to build Frost on the node when the carried binaries do not load there.
#
# Environment: FROST_VENV (default .cache/venv), FROST_LIBTORCH (a LibTorch of your own: the
# folder holding lib/ and share/cmake/Torch), FROST_BUNDLE_BUILD_DIR (default build-bundle),
# FROST_JOBS (default nproc), FROST_BUNDLE_MAX_MIB (default 64), FROST_BUNDLE_DEB_CACHE
# (default .cache/bundle-debs).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "bundle.sh: error: $*" >&2; exit 1; }
note() { echo "bundle.sh: $*" >&2; }

root=$(cd "$(dirname "$0")/.." && pwd)
out=""
build_dir=""
with_dev=0
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a folder"; build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --with-dev) with_dev=1; shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $out ]] || die "more than one output folder: '$out' and '$1'"; out=$1; shift ;;
  esac
done
out=${out:-$root/bundle}
max_mib=${FROST_BUNDLE_MAX_MIB:-64}
[[ $max_mib =~ ^[0-9]+$ ]] || die "FROST_BUNDLE_MAX_MIB must be a whole number of MiB, got '$max_mib'"
deb_cache=${FROST_BUNDLE_DEB_CACHE:-$root/.cache/bundle-debs}
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for tool in apt-get dpkg-deb dpkg-query ldd strip sha256sum cmake python3; do
  command -v "$tool" >/dev/null || die "'$tool' not found on PATH (Debian: apt-get install dpkg-dev binutils cmake python3)"
done

# ---- 1. LibTorch and the build --------------------------------------------------------------
venv=${FROST_VENV:-$root/.cache/venv}
if [[ -n ${FROST_LIBTORCH:-} ]]; then
  libtorch=$FROST_LIBTORCH
  libtorch_from="FROST_LIBTORCH"
else
  [[ -x $venv/bin/python ]] || die "no venv at $venv (run launch/setup.sh, or set FROST_LIBTORCH)"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  libtorch=$site/torch
  libtorch_from="venv torch"
fi
libtorch=$(cd "$libtorch" 2>/dev/null && pwd -P) || die "LibTorch folder '$libtorch' does not exist"
torch_cuda_so=$libtorch/lib/libtorch_cuda.so
[[ -f $torch_cuda_so ]] || die "$torch_cuda_so not found: the kit needs a CUDA build of LibTorch"
torch_version=unknown torch_cuda=unknown torch_git=unknown
if [[ -f $libtorch/version.py ]]; then  # PyPI wheel
  pyval() { sed -n "s/^$1[^=]*= *'\\(.*\\)'.*/\\1/p" "$libtorch/version.py" | head -1; }
  torch_version=$(pyval __version__) torch_cuda=$(pyval cuda) torch_git=$(pyval git_version)
elif [[ -f $libtorch/build-version ]]; then  # LibTorch zip from pytorch.org
  torch_version=$(<"$libtorch/build-version")
fi
torch_sha=$(sha256sum "$torch_cuda_so" | cut -d' ' -f1)
# The wheel's tag (cp311, cp312, ...): the wheels of one torch version differ per Python version,
# and so does the hash of their libtorch_cuda.so.
torch_wheel_tag=$(sed -n 's/^Tag: //p' "$libtorch"/../torch-*.dist-info/WHEEL 2>/dev/null | head -1)
note "LibTorch $torch_version (CUDA $torch_cuda) from $libtorch"

build_type=Release
if [[ -n $build_dir ]]; then
  build=$(cd "$build_dir" 2>/dev/null && pwd) || die "--build-dir '$build_dir' does not exist"
  [[ -f $build/CMakeCache.txt && -x $build/frost-train ]] ||
    die "--build-dir $build holds no built Frost (CMakeCache.txt and frost-train expected)"
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
  [[ $build_type == Release ]] ||
    note "warning: $build is a '${build_type:-no type}' build, not Release (recorded in the manifest)"
  torch_dir=$(sed -n 's/^Torch_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
  torch_dir_real=$(cd "$torch_dir" 2>/dev/null && pwd -P || echo "$torch_dir")
  [[ $torch_dir_real == "$libtorch"/* ]] ||
    die "$build was configured with Torch_DIR=$torch_dir, not the LibTorch at $libtorch"
  note "using the existing build $build (nothing is built)"
else
  build=${FROST_BUNDLE_BUILD_DIR:-$root/build-bundle}
  note "building Frost (Release) into $build"
  mkdir -p "$build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$libtorch" \
    -DFROST_PYTHON="${venv}/bin/python" >"$build/bundle-configure.log" 2>&1 ||
    { tail -30 "$build/bundle-configure.log" >&2; die "configure failed (log: $build/bundle-configure.log)"; }
  got=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
  [[ $got == Release ]] || die "$build/CMakeCache.txt says CMAKE_BUILD_TYPE=$got, expected Release"
  cmake --build "$build" -j "${FROST_JOBS:-$(nproc)}"
fi

# ---- 2. stage the binaries, tests, scripts and data ------------------------------------------
if [[ -e $out ]]; then
  [[ -f $out/manifest.txt || -z "$(ls -A "$out")" ]] ||
    die "$out exists and is not a bundle (no manifest.txt); remove it or name another folder"
fi
# Staged into OUT.partial and renamed at the end: a failed run never leaves a bundle that looks
# complete (nor one that the next run would refuse to replace).
final_out=$out
out=$out.partial
rm -rf "$out"
mkdir -p "$out"/{bin,tests/bin,kit,src/launch,src/tests,data}
out=$(cd "$out" && pwd)
final_out=$(cd "$(dirname "$final_out")" && pwd)/$(basename "$final_out")
stage_elf() {  # stage_elf SRC DEST_DIR: copy and strip (symbols are not needed on the node)
  cp "$1" "$2/" && strip --strip-unneeded "$2/$(basename "$1")"
}
for b in frost-train frost-prep frost-bench frost-predict; do
  if [[ -x $build/$b ]]; then stage_elf "$build/$b" "$out/bin"
  elif [[ $b != frost-predict ]]; then die "$build/$b not found (is the build complete?)"; fi
done
shopt -s nullglob
tests=("$build"/tests/frost_*_tests)
shopt -u nullglob
((${#tests[@]})) || note "warning: no test binaries under $build/tests (FROST_BUILD_TESTS off?)"
for t in "${tests[@]}"; do stage_elf "$t" "$out/tests/bin"; done
cp "$root/launch/frost-mpirun" "$out/src/launch/"
cp -r "$root/tests/fixtures" "$root/tests/e2e" "$root/tests/gpu" "$out/src/tests/"
cp "$root"/tests/gpu/check.sh "$root"/tests/gpu/rank_env.sh "$root"/tests/gpu/*.py "$out/kit/"
# The benchmark harness (kit step f): bench/gpu.py and its peer, which need only torch on the node
# (ddp_gpu_peer.py imports its BERT modules and Classifier from ddp_peer.py, next to it).
mkdir -p "$out/bench/peers"
cp "$root/bench/gpu.py" "$out/bench/"
cp "$root/bench/peers/ddp_gpu_peer.py" "$root/bench/peers/ddp_peer.py" "$out/bench/peers/"

# The ctest entries labelled gpu, with the build and source folders replaced by placeholders
# that kit/run_tests.py fills in on the node (no cmake/ctest needed there).
(cd "$build" && ctest -N -L gpu --show-only=json-v1) >"$out/tests/ctest-gpu.raw.json" 2>/dev/null ||
  die "ctest -N -L gpu --show-only=json-v1 failed in $build"
python3 "$root/tests/gpu/export_ctest.py" "$out/tests/ctest-gpu.raw.json" "$build" "$root" \
  "$out/tests/gpu-tests.json"
rm "$out/tests/ctest-gpu.raw.json"

# A slice of Fashion-MNIST (IDX, gzip) for frost-prep on the node: 3000 training and 1000 test
# images keep data/ near 2 MB.
fmnist=${FROST_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[[ -f $fmnist/train-images-idx3-ubyte.gz ]] ||
  die "$fmnist/train-images-idx3-ubyte.gz not found (apt-get install dataset-fashion-mnist, or set FROST_FMNIST_DIR)"
python3 "$root/tests/gpu/slice_idx.py" "$fmnist" "$out/data/fashion-mnist-small" 3000 1000

# ---- 3. Debian runtime packages --------------------------------------------------------------
# Seed set (docs/gpu.md): OpenMPI 4.1 runtime, HDF5, Boost.Program_options, spdlog/fmt, utf8proc,
# PCRE2.
# The ldd pass below adds whatever else is found missing. The base set is assumed on every node.
runtime_pkgs=(openmpi-bin openmpi-common libopenmpi3 libhwloc15 libevent-2.1-7 libevent-core-2.1-7
  libevent-pthreads-2.1-7 libpmix2 libnuma1 libltdl7 libmunge2 libnl-3-200 libnl-route-3-200
  libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libcurl4 libboost-program-options1.74.0
  libspdlog1.10 libfmt9 libutf8proc2 libpcre2-8-0)
base_pkgs=" libc6 libgcc-s1 libstdc++6 zlib1g libcrypt1 "
mkdir -p "$deb_cache"
fetch_debs() {  # fetch_debs PKG...: into the cache (apt-get download), once per package version
  local need=() p
  for p in "$@"; do
    compgen -G "$deb_cache/${p}_*.deb" >/dev/null || need+=("$p")
  done
  ((${#need[@]})) || return 0
  note "apt-get download ${need[*]}"
  (cd "$deb_cache" && apt-get download -qq "${need[@]}") ||
    die "apt-get download failed for: ${need[*]} (network? run apt-get update)"
}
unpack_debs() {  # unpack_debs DEST PKG...
  local dest=$1 p f
  shift
  mkdir -p "$dest"
  for p in "$@"; do
    f=$(compgen -G "$deb_cache/${p}_*.deb" | sort -V | tail -1)
    dpkg-deb -x "$f" "$dest"
  done
}
sysroot=$out/sysroot
lib_dirs() {  # the library folders env.sh puts on LD_LIBRARY_PATH for the sysroot P
  local p=$1
  echo "$p/lib/$multiarch:$p/usr/lib/$multiarch:$p/usr/lib/$multiarch/openmpi/lib:$p/usr/lib/$multiarch/pmix2/lib:$p/usr/lib/$multiarch/hdf5/serial"
}
# Missing libraries: for every ELF file under the given folders, what ldd resolves outside the
# sysroot, LibTorch and CUDA, mapped to its Debian package; prints the packages not yet staged.
missing_pkgs() {
  local f lib pkg
  find "$@" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    while IFS= read -r -d '' f; do
      head -c4 "$f" | grep -q 'ELF' || continue
      LD_LIBRARY_PATH="$(lib_dirs "$sysroot"):$libtorch/lib" ldd "$f" 2>/dev/null |
        sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p'
    done | sort -u | while read -r lib; do
      case "$lib" in
        "$sysroot"/*|"$libtorch"/*|*/nvidia/*|/usr/local/cuda*) continue ;;
        # CUDA's own libraries come with the node's PyTorch (its nvidia-* wheels) or toolkit.
        */libcuda.so*|*/libcudart.so*|*/libcublas*|*/libcudnn*|*/libcufft*|*/libcurand*|\
        */libcusparse*|*/libcusolver*|*/libcufile*|*/libcupti*|*/libnvrtc*|*/libnvJitLink*|\
        */libnvToolsExt*|*/libnvshmem*|*/libnccl*) continue ;;
      esac
      pkg=$(dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "/usr${lib#/usr}" 2>/dev/null ||
            dpkg-query -S "${lib#/usr}" 2>/dev/null || dpkg-query -S "$(readlink -f "$lib")" 2>/dev/null ||
            dpkg-query -S "$(readlink -f "$lib" | sed 's|^/usr||')" 2>/dev/null || echo "?:$lib")
      pkg=${pkg%%:*}
      if [[ $pkg == "?" ]]; then echo "UNKNOWN:$lib"; continue; fi
      [[ $base_pkgs == *" $pkg "* ]] || echo "$pkg"
    done | sort -u
}
fetch_debs "${runtime_pkgs[@]}"
unpack_debs "$sysroot" "${runtime_pkgs[@]}"
for round in 1 2 3 4 5; do
  mapfile -t more < <(missing_pkgs "$out/bin" "$out/tests/bin" "$sysroot")
  unknown=() add=()
  for p in "${more[@]}"; do
    case "$p" in
      UNKNOWN:*) unknown+=("${p#UNKNOWN:}") ;;
      *) [[ " ${runtime_pkgs[*]} " == *" $p "* ]] || add+=("$p") ;;
    esac
  done
  ((${#unknown[@]} == 0)) || note "warning: libraries of no Debian package (not staged): ${unknown[*]}"
  ((${#add[@]})) || break
  note "ldd round $round: adding ${add[*]}"
  fetch_debs "${add[@]}"
  unpack_debs "$sysroot" "${add[@]}"
  runtime_pkgs+=("${add[@]}")
done
((${#add[@]} == 0)) || die "the package closure did not settle after 5 rounds (last: ${add[*]})"
# dpkg -x makes no alternatives links; absolute symlinks would point at the build machine.
rm -rf "$sysroot"/usr/share/{doc,man,lintian,bug}
find "$sysroot" -type l -lname '/*' -delete
mkdir -p "$out/mpi-bin"
for t in mpirun mpiexec orterun ompi_info; do
  src=$t
  [[ -e $sysroot/usr/bin/$t.openmpi ]] && src=$t.openmpi
  [[ -e $sysroot/usr/bin/$src ]] && ln -sfn "../sysroot/usr/bin/$src" "$out/mpi-bin/$t"
done
[[ -e $out/mpi-bin/mpirun ]] || die "no mpirun in $sysroot/usr/bin after unpacking openmpi-bin"

if ((with_dev)); then
  # The -dev set goes into a second folder, OUT-dev: with it the runtime bundle would exceed the
  # size limit (libboost1.74-dev alone is 9 MB as .deb, ~150 MB unpacked). Kept as .deb files;
  # dev/unpack.sh unpacks them on the node with ar and tar (no dpkg needed).
  dev_out=$final_out-dev
  [[ ! -e $dev_out || -f $dev_out/unpack.sh ]] || die "$dev_out exists and is not a -dev folder of this script"
  rm -rf "$dev_out"
  mkdir -p "$dev_out/debs"
  dev_pkgs=(libopenmpi-dev libhdf5-dev libboost-program-options-dev libboost1.74-dev libspdlog-dev
    libfmt-dev libutf8proc-dev libpcre2-dev nlohmann-json3-dev zlib1g-dev libgtest-dev libgmock-dev libaec-dev
    libcurl4-openssl-dev libjpeg-dev libjpeg62-turbo-dev libssl-dev libevent-dev libhwloc-dev
    libnuma-dev libltdl-dev libibverbs-dev libpmix-dev zlib1g)
  fetch_debs "${dev_pkgs[@]}"
  for p in "${dev_pkgs[@]}"; do cp "$(compgen -G "$deb_cache/${p}_*.deb" | sort -V | tail -1)" "$dev_out/debs/"; done
  git -C "$root" archive --format=tar.gz -o "$dev_out/frost-src.tar.gz" HEAD
  cp "$root/tests/gpu/unpack_debs.sh" "$dev_out/unpack.sh"
  dev_mib=$(( ($(du -sk "$dev_out" | cut -f1) + 1023) / 1024 ))
  ((dev_mib <= max_mib)) || die "$dev_out is $dev_mib MiB, over the limit of $max_mib MiB"
  note "-dev set: $dev_out ($dev_mib MiB; docs/gpu.md says how to build on the node with it)"
fi

# ---- 4. env.sh and the manifest ---------------------------------------------------------------
cat >"$out/env.sh" <<'ENV'
# Source me (bash): sets PATH, LD_LIBRARY_PATH and OpenMPI's relocation variables so that the
# kit's binaries and mpirun run from this folder, wherever it was copied. LibTorch comes from the
# node's PyTorch: FROST_TORCH_SITE (the site-packages holding torch/), else found by importing
# torch with ${FROST_NODE_PYTHON:-python3}. Sets FROST_BUNDLE and FROST_TORCH_SITE.
# Returns 1 (with a message) when no torch is found; the rest is set anyway.
FROST_BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FROST_BUNDLE
_fp=$FROST_BUNDLE/sysroot
_ma=@MULTIARCH@
export OPAL_PREFIX=$_fp/usr
export OPAL_SYSCONFDIR=$_fp/etc/openmpi
export PMIX_PREFIX=$_fp/usr/lib/$_ma/pmix2
export PMIX_PKGDATADIR=$PMIX_PREFIX/share/pmix
export PMIX_PKGLIBDIR=$PMIX_PREFIX/lib/pmix
export OMPI_MCA_plm_rsh_agent=false  # one node, no ssh: mpirun starts its ranks itself
export PATH=$FROST_BUNDLE/bin:$FROST_BUNDLE/mpi-bin:$_fp/usr/bin:$PATH
export FROST_MPIRUN=$FROST_BUNDLE/src/launch/frost-mpirun
_fl=$_fp/lib/$_ma:$_fp/usr/lib/$_ma:$_fp/usr/lib/$_ma/openmpi/lib:$_fp/usr/lib/$_ma/pmix2/lib:$_fp/usr/lib/$_ma/hdf5/serial
if [[ -z ${FROST_TORCH_SITE:-} ]]; then
  FROST_TORCH_SITE=$("${FROST_NODE_PYTHON:-python3}" -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null) || FROST_TORCH_SITE=""
fi
export FROST_TORCH_SITE
_tl=""
if [[ -n $FROST_TORCH_SITE && -d $FROST_TORCH_SITE/torch/lib ]]; then
  _tl=$FROST_TORCH_SITE/torch/lib
  for _d in "$FROST_TORCH_SITE"/nvidia/nccl/lib "$FROST_TORCH_SITE"/nvidia/cu13/lib "$FROST_TORCH_SITE"/nvidia/*/lib; do
    [[ -d $_d && ":$_tl:" != *":$_d:"* ]] && _tl=$_tl:$_d
  done
fi
export LD_LIBRARY_PATH=${_tl:+$_tl:}$_fl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset _fp _ma _fl _tl _d
if [[ -z $FROST_TORCH_SITE ]]; then
  echo "env.sh: no PyTorch found: '${FROST_NODE_PYTHON:-python3} -c \"import torch\"' failed; set FROST_TORCH_SITE to the site-packages folder holding torch/" >&2
  return 1 2>/dev/null || exit 1
fi
ENV
sed -i "s|@MULTIARCH@|$multiarch|" "$out/env.sh"

commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit+uncommitted-changes"
pkg_versions=$(for p in "${runtime_pkgs[@]}"; do
  f=$(compgen -G "$deb_cache/${p}_*.deb" | sort -V | tail -1); basename "$f" .deb; done | tr '\n' ' ')
{
  echo "# Frost GPU check kit (launch/bundle.sh). key=value; read by kit/check.sh."
  echo "frost_commit=$commit"
  echo "built_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_type=$build_type"
  echo "build_os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "build_glibc=$(ldd --version | head -1 | awk '{print $NF}')"
  echo "torch_source=$libtorch_from"
  echo "torch_version=$torch_version"
  echo "torch_cuda=$torch_cuda"
  echo "torch_git=$torch_git"
  echo "torch_wheel_tag=${torch_wheel_tag:-none}"
  echo "libtorch_cuda_sha256=$torch_sha"
  echo "runtime_packages=${pkg_versions% }"
  echo "with_dev=$with_dev"
} >"$out/manifest.txt"

for f in env.sh manifest.txt mpi-bin/mpirun bin/frost-train bin/frost-prep kit/check.sh kit/rank_env.sh \
  kit/kit_check.py kit/run_tests.py src/launch/frost-mpirun tests/gpu-tests.json bench/gpu.py \
  bench/peers/ddp_gpu_peer.py bench/peers/ddp_peer.py; do
  [[ -e $out/$f ]] || die "staging left out $f (a bug in this script)"
done

# ---- 5. size -----------------------------------------------------------------------------------
size_kib=$(du -sk "$out" | cut -f1)
size_mib=$(( (size_kib + 1023) / 1024 ))
echo "size_mib=$size_mib" >>"$out/manifest.txt"
if ((size_mib > max_mib)); then
  du -sk "$out"/* | sort -n | tail -5 >&2
  die "$out is $size_mib MiB, over the limit of $max_mib MiB (FROST_BUNDLE_MAX_MIB)"
fi
rm -rf "$final_out"
mv "$out" "$final_out"
note "bundle ready: $final_out ($size_mib MiB). On the GPU node: bash $(basename "$final_out")/kit/check.sh $(basename "$final_out") OUTDIR"
