#!/usr/bin/env bash
# The main job: fine-tune a pretrained model on real data with both strategies on 2 ranks.
#
#   bash launch/demo.sh                 # sentiment (default): all-MiniLM-L6-v2 on sentence polarity
#   bash launch/demo.sh fashion-mnist   # ResNet-18 layout: pretrain on Fashion-MNIST 0-4, transfer to 5-9
#
# sentiment: 1. install + build + fetch the pretrained model and corpus (launch/setup.sh)
#            2. frost-prep text: movie-review sentences -> WordPiece token ids in HDF5 (80/20 split)
#            3. head (frozen encoder + linear classifier) and full fine-tuning (AdamW, lr 5e-5)
# fashion-mnist: Yosinski et al. 2014 class split; pretrain A, then head and full on B.
# Each run prints its per-epoch table; a summary of both strategies ends the job.
# FROST_NP sets the number of ranks (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-sentiment}
case "$scenario" in
  sentiment|fashion-mnist) ;;
  *) echo "demo: unknown scenario '$scenario' (sentiment | fashion-mnist)" >&2; exit 1 ;;
esac
bash launch/setup.sh
build=${FROST_BUILD_DIR:-build}
np=${FROST_NP:-2}
assets=${FROST_ASSETS_DIR:-.cache}

run() {  # run CONFIG: one frost-train job under mpirun; its table goes to stdout
  echo
  echo "=== $1 ($np ranks) ==="
  launch/frost-mpirun -np "$np" "$build/frost-train" --config "configs/$1.ini" --log.overwrite true
}

summary() {  # summary TITLE PREFIX: test accuracy, time, throughput and traffic of PREFIX-{head,full}
  echo
  echo "=== $1, $np ranks ==="
  /usr/bin/python3 - "$2" <<'PY'
import json, sys
prefix = sys.argv[1]
# train time: the epochs' training wall time plus, with train.feature_cache, the one-off
# extraction of the backbone features (evaluation excluded); samples/s = samples trained / that.
print("| strategy | test accuracy | train time (s) | samples/s | MB all-reduced per step |")
print("|:---------|--------------:|---------------:|----------:|------------------------:|")
for s in ("head", "full"):
    rows = [json.loads(l) for l in open(f"runs/{prefix}-{s}/metrics.jsonl")]
    kind = lambda k: [r for r in rows if r["kind"] == k]
    train, ev = kind("train"), kind("eval")[-1]
    t = sum(r["wall_s"] for r in kind("epoch")) + sum(r["extraction_s"] for r in kind("feature_cache"))
    sps = sum(r["samples"] for r in train) / t
    mb = sum(r["comm_bytes"] for r in train) / len(train) / 1e6
    print(f"| {s:8s} | {ev['eval_accuracy']:13.4f} | {t:14.1f} | {sps:9.0f} | {mb:23.4f} |")
PY
}

if [[ $scenario == sentiment ]]; then
  if [[ ! -f data/sentiment/train.h5 || ! -f data/sentiment/test.h5 ]]; then
    "$build/frost-prep" text --csv "$assets/data/sentence-polarity.csv" \
      --vocab "$assets/models/all-MiniLM-L6-v2/vocab.txt" --out data/sentiment
  fi
  run sentiment-minilm-head
  run sentiment-minilm-full
  summary "Sentence polarity (800 test sentences, 2 classes), all-MiniLM-L6-v2" sentiment-minilm
else
  src=/usr/share/datasets/fashion-mnist
  for split in a:0-4 b:5-9; do
    name=${split%%:*}; classes=${split#*:}
    if [[ ! -f data/fashion-mnist/$name/train.h5 || ! -f data/fashion-mnist/$name/test.h5 ]]; then
      "$build/frost-prep" fashion-mnist --src "$src" --out "data/fashion-mnist/$name" --classes "$classes"
    fi
  done
  run fashion-mnist-a-pretrain
  run fashion-mnist-b-head
  run fashion-mnist-b-full
  summary "Fashion-MNIST task B (classes 5-9) from the task-A backbone" fashion-mnist-b
fi
