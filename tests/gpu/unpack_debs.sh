#!/usr/bin/env bash
# unpack.sh [PREFIX]: unpacks every .deb in debs/ next to this script into PREFIX with ar and tar
# only (no dpkg on the node needed): the fallback set of the GPU check kit for building Frost on
# a GPU node (docs/gpu.md, "The GPU check kit"). PREFIX defaults to the runtime bundle's sysroot
# (BUNDLE/sysroot for this folder BUNDLE-dev), where the -dev packages' .so links point to.
# Relinks zlib's libz.so (an absolute link in the package) to the libz.so.1 in PREFIX.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# //'; exit 0 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-${here%-dev}/sysroot}
[[ -n ${1:-} || -d $prefix ]] || { echo "unpack.sh: error: $prefix not found (the bundle next to $here); name a PREFIX" >&2; exit 1; }
command -v ar >/dev/null || { echo "unpack.sh: error: 'ar' not found (binutils)" >&2; exit 1; }
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for deb in "$here"/debs/*.deb; do
  [[ -f $deb ]] || { echo "unpack.sh: error: no .deb files in $here/debs" >&2; exit 1; }
  rm -rf "${tmp:?}"/*
  (cd "$tmp" && ar x "$deb")
  data=$(ls "$tmp"/data.tar.* 2>/dev/null | head -1)
  [[ -n $data ]] || { echo "unpack.sh: error: $deb has no data.tar.*" >&2; exit 1; }
  tar -xf "$data" -C "$prefix"
  n=$((n + 1))
done
for z in "$prefix"/usr/lib/*/libz.so; do
  ma=$(basename "$(dirname "$z")")
  [[ -L $z && -e $prefix/lib/$ma/libz.so.1 ]] && ln -sfn "../../../lib/$ma/libz.so.1" "$z"
done
echo "unpack.sh: $n packages into $prefix"
