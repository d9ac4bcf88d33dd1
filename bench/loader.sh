#!/usr/bin/env bash
# Loader efficiency (docs/benchmarks.md, "Loader efficiency"): makes the data files when they
# are missing, then runs frost-bench loader on each, printing the tables and writing one CSV
# per table to OUT (default runs/bench-loader).
#
#   bash bench/loader.sh [OUT]          # FROST_BUILD_DIR (default build), FROST_ASSETS_DIR (.cache)
#
# Files (in data/loader-bench/): Fashion-MNIST train.h5 as frost-prep writes it and a gzip copy;
# the sentence-polarity token file of the sentiment demo; 200000 synthetic 3x32x32 images,
# uncompressed and gzip-compressed (614 MB decoded: more than the default 512 MiB chunk-cache
# budget, so it is run with the global permutation (slow, first 20 steps), with a 1 GiB budget
# that holds it, and with the block shuffle at 512 and 128 MiB). Needs /usr/share/datasets/fashion-mnist
# (dataset-fashion-mnist) and the polarity corpus from launch/fetch_assets.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FROST_BUILD_DIR:-build}
assets=${FROST_ASSETS_DIR:-.cache}
out=${1:-runs/bench-loader}
data=data/loader-bench
py=/usr/bin/python3
mkdir -p "$data" "$out"

[[ -f $data/fmnist/train.h5 ]] ||
  "$build/frost-prep" fashion-mnist --src /usr/share/datasets/fashion-mnist --out "$data/fmnist"
[[ -f $data/fmnist-gzip.h5 ]] ||
  "$py" bench/make_loader_data.py gzip "$data/fmnist/train.h5" "$data/fmnist-gzip.h5" --level 4
[[ -f $data/polarity/train.h5 ]] ||
  "$build/frost-prep" text --csv "$assets/data/sentence-polarity.csv" \
    --vocab "$assets/models/all-MiniLM-L6-v2/vocab.txt" --out "$data/polarity"
[[ -f $data/synth-200k.h5 ]] ||
  "$py" bench/make_loader_data.py synth "$data/synth-200k.h5" --n 200000 --shape 3,32,32
[[ -f $data/synth-200k-gzip.h5 ]] ||
  "$py" bench/make_loader_data.py synth "$data/synth-200k-gzip.h5" --n 200000 --shape 3,32,32 --gzip 4

run() {  # run NAME REPEATS ARGS...: one frost-bench loader table, also written to OUT/NAME.csv
  local name=$1 repeats=$2; shift 2
  "$build/frost-bench" loader --ranks 2 --repeats "$repeats" --csv "$out/$name.csv" "$@" |
    tee "$out/$name.txt"
}
echo "# $(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run fmnist         5 --data "$data/fmnist/train.h5" --batch-size 64
run fmnist-gzip    5 --data "$data/fmnist-gzip.h5" --batch-size 64
run fmnist-gzip-e3 3 --data "$data/fmnist-gzip.h5" --batch-size 64 --epochs 3
run polarity       5 --data "$data/polarity/train.h5" --batch-size 8 --epochs 10
run synth          5 --data "$data/synth-200k.h5" --batch-size 64
run synth-gzip     3 --data "$data/synth-200k-gzip.h5" --batch-size 64 --steps 20 --shuffle-mode global
run synth-gzip-1g  3 --data "$data/synth-200k-gzip.h5" --batch-size 64 --chunk-cache-mb 1024
# The block shuffle (auto picks it: 614 MB decoded > the budget), at the default 512 MiB budget
# and at 128 MiB (614 MB decoded = 4.6x that budget), with the peak RSS of the process.
run synth-gzip-block     3 --data "$data/synth-200k-gzip.h5" --batch-size 64
rss() {  # rss NAME ARGS...: one repeat under bench/peak_rss.sh, peak RSS (KiB) to OUT/NAME.rss.0
  local name=$1; shift
  bench/peak_rss.sh "$out/$name.rss" "$build/frost-bench" loader --ranks 2 --repeats 1 "$@" \
    > "$out/$name.rss.txt"
  echo "# $name: peak RSS $(cat "$out/$name.rss.0") KiB"
}
run synth-gzip-block-128 3 --data "$data/synth-200k-gzip.h5" --batch-size 64 --chunk-cache-mb 128
rss synth-gzip-block-128 --data "$data/synth-200k-gzip.h5" --batch-size 64 --chunk-cache-mb 128
rss synth-gzip-1g        --data "$data/synth-200k-gzip.h5" --batch-size 64 --chunk-cache-mb 1024
