#!/usr/bin/env bash
# Throughput of the Fashion-MNIST task-B fine-tune per strategy on 1 and 2 ranks, against the
# machine's own ceiling for the same workload measured in the same run.
#
#   bash bench/fashion_mnist_scaling.sh [STEPS]      (default 60 optimizer steps per run)
#
# Needs the task-A backbone (runs/fashion-mnist-a-pretrain/model.pt, from launch/demo.sh).
# Every run uses the same global batch (128) and per-rank micro-batch 128 / ranks.
# Cells:
#   1 rank, 1 thread        the single-process baseline
#   1 rank, 2 threads       one process using both cores through intra-op threads
#   2 ranks, 1 thread each  Frost data parallel
#   2 x (1 rank, 1 thread, micro-batch 64) at once: the ceiling for 2 ranks on this machine
#                           (no communication; shows what the cores deliver side by side)
# samples/s is the median over steps after the first 10 (warm-up); prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-60}
build=${FROST_BUILD_DIR:-build}
init=runs/fashion-mnist-a-pretrain/model.pt
[[ -f $init ]] || { echo "missing $init: run launch/demo.sh first" >&2; exit 1; }
out=runs/bench-scaling
rm -rf "$out"; mkdir -p "$out"

run() {  # run NAME NP THREADS BATCH STRATEGY
  local name=$1 np=$2 threads=$3 batch=$4 strategy=$5
  launch/frost-mpirun --quiet -np "$np" "$build/frost-train" --config "configs/fashion-mnist-b-$strategy.ini" \
    --train.max_steps "$steps" --train.threads "$threads" --data.batch_size "$batch" --data.test "" \
    --log.level warn --log.dir "$out/$name" --log.overwrite true > /dev/null
}

for strategy in head full; do
  run "$strategy-1r1t" 1 1 128 "$strategy"
  run "$strategy-1r2t" 1 2 128 "$strategy"
  run "$strategy-2r1t" 2 1 64 "$strategy"
  run "$strategy-ceil-a" 1 1 64 "$strategy" & run "$strategy-ceil-b" 1 1 64 "$strategy"; wait
done

/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def cell(name):
    rows = [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl")]
    rows = [r for r in rows if r["kind"] == "train"][10:]
    return statistics.median(r["samples_per_s"] for r in rows), statistics.mean(r["comm_bytes"] for r in rows) / 1e6, \
        statistics.median(r["comm_wait_ms"] for r in rows)
print("| strategy | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread | ceiling: 2 independent 1-thread runs | 2-rank efficiency vs ceiling | MB/step (2 ranks) | comm wait ms/step |")
print("|:--|--:|--:|--:|--:|--:|--:|--:|")
for s in ("head", "full"):
    a, _, _ = cell(f"{s}-1r1t"); b, _, _ = cell(f"{s}-1r2t"); c, mb, wait = cell(f"{s}-2r1t")
    ca, _, _ = cell(f"{s}-ceil-a"); cb, _, _ = cell(f"{s}-ceil-b")
    ceiling = ca + cb
    print(f"| {s} | {a:.0f} | {b:.0f} | {c:.0f} | {ceiling:.0f} | {c / ceiling:.0%} | {mb:.4f} | {wait:.2f} |")
PY
