#!/usr/bin/env bash
# data.augment end to end: a 2-rank run with crop_flip (and data.image_size other than the
# stored size) killed at step 8 and resumed ends with the uninterrupted run's model.pt byte for
# byte (the draws depend on (seed, epoch, sample) only); frost-predict normalises with the
# run's recorded mean/std and its evaluation transform; the start-up log names the pipeline.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
P="$FROST_BIN/frost-predict"
make_data "$WORK/train.h5" --n 64 --kind image --hw 12 --classes 3
make_data "$WORK/test.h5" --n 24 --kind image --hw 12 --classes 3 --seed 1
common=(--data.train "$WORK/train.h5" --data.test "$WORK/test.h5" --model.backbone mlp
        --model.mlp_hidden 16 --data.batch_size 4 --data.image_size 8 --data.normalize custom --data.mean 0.4 --data.std 0.3
        --train.epochs 2 --train.threads 1 --checkpoint.every_steps 5
        --optim.name adamw --optim.lr 0.01)
plain=("${common[@]}")
common+=(--data.augment crop_flip)

train -np 2 "$T" "${common[@]}" --log.dir "$WORK/a" > "$WORK/a.out" 2>&1 || { cat "$WORK/a.out"; fail "run A"; }
expect_in "$WORK/a.out" "data: images 1x12x12 -> 1x8x8, augment crop_flip (training: random resized crop, scale 0.08,1"
expect_in "$WORK/a.out" "evaluation: resize to 9 (shorter side) + centre crop"
expect_in "$WORK/a.out" "normalize custom (mean 0.4, std 0.3)"
"$PY" - "$WORK/a/normalization.json" <<'PY' || fail "normalization.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r == {"normalize": "custom", "mean": [0.4], "std": [0.3]}, r
PY
pass "start-up log and normalization.json name the pipeline"

if FROST_FAULT_INJECT=rank=1,at=step:8,action=kill train -np 2 "$T" "${common[@]}" --log.dir "$WORK/b" \
     > "$WORK/b1.out" 2>&1; then fail "the killed run exited 0"; fi
train -np 2 "$T" "${common[@]}" --log.dir "$WORK/b" --resume auto > "$WORK/b2.out" 2>&1 \
  || { cat "$WORK/b2.out"; fail "resume"; }
expect_in "$WORK/b2.out" "resumed from"
cmp "$WORK/a/model.pt" "$WORK/b/model.pt" || fail "resumed model.pt differs from the uninterrupted run's"
pass "augmented run: SIGKILL at step 8 + --resume auto == uninterrupted (model.pt byte-identical)"

# Without the augmentation (resize only) the model differs: the augmentation is live.
train -np 2 "$T" "${plain[@]}" --log.dir "$WORK/c" \
  > "$WORK/c.out" 2>&1 || { cat "$WORK/c.out"; fail "run C"; }
if cmp -s "$WORK/a/model.pt" "$WORK/c/model.pt"; then fail "augment none gave the crop_flip model"; fi
pass "augment none differs from crop_flip"

# frost-predict: the run's normalisation (not test.h5's attributes) and evaluation transform,
# so its evaluation line is the run's last one.
train -np 1 "$P" --run "$WORK/a" --data "$WORK/test.h5" --out "$WORK/pred.csv" > "$WORK/p.out" 2>&1 \
  || { cat "$WORK/p.out"; fail "frost-predict"; }
last_eval=$(grep -o "test accuracy [0-9.]* ([0-9]* samples)" "$WORK/a.out" | tail -1)
[[ -n "$last_eval" ]] || fail "no eval line in run A"
expect_in "$WORK/p.out" "$last_eval"
pass "frost-predict scores as the run's last evaluation ($last_eval)"

# data.normalize = dataset: the run records the training file's mean/std, so frost-predict on a
# file whose attributes say otherwise still normalises as the run did (identical predictions);
# without the record it would follow the file's attributes (the predictions change).
train -np 1 "$T" --data.train "$WORK/train.h5" --model.backbone mlp --model.mlp_hidden 16 \
  --data.augment crop_flip --train.threads 1 --log.dir "$WORK/d" > "$WORK/d.out" 2>&1 \
  || { cat "$WORK/d.out"; fail "run D"; }
"$PY" - "$WORK/test.h5" "$WORK/shifted.h5" <<'PY' || fail "writing shifted.h5"
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs["mean"] = np.array([0.1])
    f.attrs["std"] = np.array([0.9])
PY
for f in test shifted; do
  train -np 1 "$P" --run "$WORK/d" --data "$WORK/$f.h5" --out "$WORK/d-$f.csv" --probabilities \
    > "$WORK/pd.out" 2>&1 || { cat "$WORK/pd.out"; fail "frost-predict on $f.h5"; }
done
cmp "$WORK/d-test.csv" "$WORK/d-shifted.csv" || fail "frost-predict followed the file's mean/std"
mv "$WORK/d/normalization.json" "$WORK/d-normalization.json"
train -np 1 "$P" --run "$WORK/d" --data "$WORK/shifted.h5" --out "$WORK/d-norecord.csv" \
  --probabilities > "$WORK/pd.out" 2>&1 || { cat "$WORK/pd.out"; fail "frost-predict without record"; }
if cmp -s "$WORK/d-test.csv" "$WORK/d-norecord.csv"; then fail "the record made no difference"; fi
pass "frost-predict normalises with the run's recorded mean/std, not the file's"

# Refusals: the feature cache, non-image inputs, imagenet statistics for 1 channel.
make_data "$WORK/feat.h5" --n 16 --dim 4 --classes 2
expect_refusal() {  # expect_refusal NAME TEXT ARGS...
  local name=$1 text=$2; shift 2
  if train -np 1 "$T" --log.dir "$WORK/r-$name" --train.threads 1 "$@" > "$WORK/r.out" 2>&1; then
    fail "$name: accepted"
  fi
  expect_in "$WORK/r.out" "$text"
}
expect_refusal cache "the features would no longer be fixed" --data.train "$WORK/train.h5" \
  --model.backbone mlp --train.strategy head --train.feature_cache memory --data.augment flip
expect_refusal features "data.augment = crop needs image inputs, but the data holds features" \
  --data.train "$WORK/feat.h5" --model.backbone mlp --data.augment crop
expect_refusal imagenet "data.normalize = imagenet needs 3-channel (RGB) images, but the data has 1 channel" \
  --data.train "$WORK/train.h5" --model.backbone mlp --data.normalize imagenet
pass "feature cache, feature inputs and imagenet on 1 channel refused"
