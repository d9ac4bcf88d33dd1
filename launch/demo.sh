#!/usr/bin/env bash
# The main job: the Fashion-MNIST transfer demo (Yosinski et al. 2014 class split) on 2 ranks.
#   1. install + build (launch/setup.sh)
#   2. frost-prep: Fashion-MNIST IDX -> HDF5, task A = classes 0-4, task B = classes 5-9
#   3. pretrain a ResNet-18-layout backbone on A (full fine-tuning from scratch)
#   4. fine-tune on B from the A backbone twice: head (linear probe) and full
#   5. print each run's per-epoch table and a summary of both strategies
#   bash launch/demo.sh            # FROST_NP=2 ranks by default
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build=${FROST_BUILD_DIR:-build}
np=${FROST_NP:-2}
src=/usr/share/datasets/fashion-mnist

for split in a:0-4 b:5-9; do
  name=${split%%:*}; classes=${split#*:}
  if [[ ! -f data/fashion-mnist/$name/train.h5 || ! -f data/fashion-mnist/$name/test.h5 ]]; then
    "$build/frost-prep" fashion-mnist --src "$src" --out "data/fashion-mnist/$name" --classes "$classes"
  fi
done

run() {  # run CONFIG: one frost-train job under mpirun; its table goes to stdout
  echo
  echo "=== $1 ($np ranks) ==="
  launch/frost-mpirun -np "$np" "$build/frost-train" --config "configs/$1.ini" --log.overwrite true
}
run fashion-mnist-a-pretrain
run fashion-mnist-b-head
run fashion-mnist-b-full

echo
echo "=== Fashion-MNIST task B (classes 5-9), starting from the task-A backbone, $np ranks ==="
python3 - <<'PY'
import json
print("| strategy | test accuracy | train time (s) | samples/s | MB/step |")
print("|:---------|--------------:|---------------:|----------:|--------:|")
for s in ("head", "full"):
    rows = [json.loads(l) for l in open(f"runs/fashion-mnist-b-{s}/metrics.jsonl")]
    train = [r for r in rows if r["kind"] == "train"]
    ev = [r for r in rows if r["kind"] == "eval"][-1]
    t = sum(r["step_ms"] for r in train) / 1e3
    n = len(train)
    sps = sum(r["samples_per_s"] for r in train) / n
    mb = sum(r["comm_bytes"] for r in train) / n / 1e6
    print(f"| {s:8s} | {ev['eval_accuracy']:13.4f} | {t:14.1f} | {sps:9.0f} | {mb:7.4f} |")
PY
