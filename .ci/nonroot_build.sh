#!/usr/bin/env bash
# CI: Frost built once as a non-root user with its dependencies found through prefixes, as on a
# cluster without root (docs/launch.md#building-on-a-cluster-without-root), so that this path
# cannot rot. Run as root after the normal test run (.ci/run); needs useradd and runuser.
#
#   bash .ci/nonroot_build.sh
#
# 1. As root: a user (FROST_CI_USER, default frostci) and, in its home, a copy of the source
#    tree and modules/<name>/, one prefix per dependency, standing in for a site's module tree:
#    symbolic links to the files of the installed Debian packages, laid out as their own
#    prefixes (dpkg -L, /usr stripped): hdf5, boost, spdlog (with fmt), nlohmann_json,
#    googletest, utf8proc, pcre2; and modules/libtorch, the venv's LibTorch (hard links when the user
#    cannot read the venv). MPI comes from PATH (mpicc), as a module puts it there.
# 2. As that user, with a fresh environment (no sudo, no apt, no pip; nothing written outside its
#    home): launch/check_deps.sh must report every required dependency; then the plain CMake
#    commands of docs/launch.md with CMAKE_PREFIX_PATH, HDF5_ROOT and BOOST_ROOT pointing at the
#    modules; the configure must have resolved every dependency above inside modules/ (read
#    back from CMakeCache.txt); then it builds FROST_CI_TARGETS (default: frost-train, which
#    links every module and dependency, and frost_unit_core_tests, which links GoogleTest), runs
#    the unit tests, `frost-train --help` and a 2-rank training with launch/frost-mpirun (MPI
#    as a user, without OMPI_ALLOW_RUN_AS_ROOT).
# Prints the wall time of the configure and of the build. FROST_JOBS: build jobs (default nproc).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
user=${FROST_CI_USER:-frostci}
targets=${FROST_CI_TARGETS:-frost-train frost_unit_core_tests}
say() { echo "nonroot_build: $*"; }

if [[ ${1:-} != --as-user ]]; then
  [[ $(id -u) == 0 ]] || { say "error: run as root (it creates the user $user)"; exit 2; }
  id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  home=$(getent passwd "$user" | cut -d: -f6)
  work=$home/frost-ci
  rm -rf "$work"
  mkdir -p "$work/src" "$work/modules"
  # The source tree: tracked and untracked-but-not-ignored files (no build/, no .cache/).
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
     tar --null -T - -cf -) | tar -C "$work/src" -xf -
  # A prefix per dependency: links to the package files (Debian's -dev packages and what they
  # pull in), /usr stripped, so each dependency sits in its own tree as a module's would.
  ma=$(gcc -print-multiarch)
  /usr/bin/python3 - "$work/modules" "$ma" << 'PY'
import glob, os, subprocess, sys
mods, ma = sys.argv[1], sys.argv[2]
# module name -> files whose packages make it up
modules = {
    "hdf5": ["/usr/include/hdf5/serial/hdf5.h", f"/usr/lib/{ma}/hdf5/serial/libhdf5.so"],
    "boost": ["/usr/include/boost/program_options.hpp", f"/usr/lib/{ma}/libboost_program_options.so",
              f"/usr/lib/{ma}/cmake/Boost-1.74.0/BoostConfig.cmake"],
    "spdlog": [f"/usr/lib/{ma}/cmake/spdlog/spdlogConfig.cmake", f"/usr/lib/{ma}/cmake/fmt/fmt-config.cmake"],
    "nlohmann_json": ["/usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake"],
    "googletest": [f"/usr/lib/{ma}/cmake/GTest/GTestConfig.cmake", "/usr/include/gmock/gmock.h"],
    "utf8proc": [f"/usr/lib/{ma}/pkgconfig/libutf8proc.pc"],
    "pcre2": [f"/usr/lib/{ma}/pkgconfig/libpcre2-8.pc"],
}
for name, keys in modules.items():
    pkgs = set()
    for k in keys:
        if not os.path.exists(k):
            continue  # another Boost version: its config is found through the headers' package
        out = subprocess.run(["dpkg", "-S", k], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():  # "pkg:arch, pkg2:arch: /path"
            pkgs.update(p.strip().split(":")[0] for p in line.rsplit(": ", 1)[0].split(","))
    files = subprocess.run(["dpkg", "-L", *sorted(pkgs)], capture_output=True, text=True, check=True).stdout
    n = 0
    for f in files.splitlines():
        if not f.startswith("/usr/") or os.path.isdir(f) or not os.path.lexists(f):
            continue
        # A -dev package's libX.so points at libX.so.N of the runtime package beside it, which
        # CMake's imported targets name: those come along.
        for g in [f] + (glob.glob(f + ".*") if f.endswith(".so") else []):
            rel = g[len("/usr/"):]
            if name == "hdf5":
                # A site's HDF5 prefix: include/hdf5.h, lib/libhdf5.so (Debian's serial flavour
                # sits in hdf5/serial/ subfolders); no bin/h5cc, whose answers name /usr.
                if rel.startswith("bin/"):
                    continue
                rel = rel.replace("include/hdf5/serial/", "include/").replace(f"lib/{ma}/hdf5/serial/", "lib/")
            dst = os.path.join(mods, name, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.lexists(dst):
                os.symlink(g, dst)
                n += 1
    print(f"nonroot_build: modules/{name}: {n} files of {' '.join(sorted(pkgs))}")
PY
  # LibTorch: the venv's torch package; hard links when the user cannot read it where it is.
  venv=${FROST_VENV:-$repo/.cache/venv}
  torch=$("$venv/bin/python" -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')
  if runuser -u "$user" -- test -r "$torch/share/cmake/Torch/TorchConfig.cmake"; then
    ln -s "$torch" "$work/modules/libtorch"
  else
    cp -al "$torch" "$work/modules/libtorch" 2> /dev/null || cp -a "$torch" "$work/modules/libtorch"
    chmod -R a+rX "$work/modules/libtorch"
  fi
  chown -R "$user:" "$work"
  say "running as $user in $work"
  exec runuser -u "$user" -- env -i HOME="$home" USER="$user" LANG=C.UTF-8 PATH=/usr/bin:/bin \
    FROST_JOBS="${FROST_JOBS:-$(nproc)}" FROST_CI_TARGETS="$targets" \
    bash "$work/src/.ci/nonroot_build.sh" --as-user "$work"
fi

# ---- as the user -------------------------------------------------------------------------------
work=$2
[[ $(id -u) != 0 ]] || { say "error: --as-user runs as root"; exit 2; }
[[ -z ${OMPI_ALLOW_RUN_AS_ROOT:-} ]] || { say "error: OMPI_ALLOW_RUN_AS_ROOT is set"; exit 2; }
mods=$work/modules
cd "$work/src"
export CCACHE_DISABLE=1  # a fresh build, timed as such
# What a user's `module load` lines would have set.
export CMAKE_PREFIX_PATH="$mods/spdlog:$mods/nlohmann_json:$mods/googletest:$mods/utf8proc:$mods/pcre2"
export HDF5_ROOT=$mods/hdf5 BOOST_ROOT=$mods/boost
export FROST_LIBTORCH=$mods/libtorch FROST_VENV=$work/no-venv

say "launch/check_deps.sh"
bash launch/check_deps.sh

# The plain CMake build of docs/launch.md#building-on-a-cluster-without-root.
t0=$(date +%s)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$FROST_LIBTORCH" \
  -DFROST_PYTHON=/usr/bin/python3 > "$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; say "error: configure failed"; exit 1; }
t1=$(date +%s)
# Every dependency resolved inside its module, not in the system folders.
cache=build/CMakeCache.txt
expect_cache() {  # VARIABLE PREFIX
  local v
  v=$(sed -n "s|^$1:[A-Z]*=||p" "$cache" | head -1)
  [[ $v == "$2"* ]] || { say "error: $1 = '$v', expected a path in $2"; exit 1; }
  say "  $1 = $v"
}
expect_cache Torch_DIR "$mods/libtorch"
expect_cache HDF5_C_INCLUDE_DIR "$mods/hdf5"
expect_cache HDF5_hdf5_LIBRARY_RELEASE "$mods/hdf5"
expect_cache Boost_DIR "$mods/boost"
expect_cache spdlog_DIR "$mods/spdlog"
expect_cache fmt_DIR "$mods/spdlog"
expect_cache nlohmann_json_DIR "$mods/nlohmann_json"
expect_cache GTest_DIR "$mods/googletest"
# (utf8proc, pcre2: pkg-config finds the modules' .pc files first, but they name prefix=/usr,
# so their libraries resolve there; nothing to read back.)
# shellcheck disable=SC2086
cmake --build build -j "$FROST_JOBS" --target $targets
t2=$(date +%s)
say "configure $((t1 - t0)) s, build ($targets) $((t2 - t1)) s with $FROST_JOBS jobs"

# It runs, as a user.
build/tests/frost_unit_core_tests --gtest_brief=1
build/frost-train --help > /dev/null
/usr/bin/python3 tests/e2e/make_data.py "$work/train.h5" --n 64 --dim 8 --classes 3
cat > "$work/run.ini" << INI
[model]
backbone = mlp
mlp_hidden = 16
[data]
train = $work/train.h5
batch_size = 8
[train]
epochs = 1
[log]
dir = $work/run
INI
launch/frost-mpirun --quiet -np 2 --oversubscribe --bind-to none build/frost-train --config "$work/run.ini" 2> "$work/train.log" ||
  { cat "$work/train.log"; say "error: the 2-rank training failed"; exit 1; }
[[ -s $work/run/model.pt ]] || { say "error: no model.pt"; exit 1; }
say "ok: built and ran as $(id -un) with every dependency from a prefix"
