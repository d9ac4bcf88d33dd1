#!/usr/bin/env bash
# train.task end to end (docs/data.md, Tasks): 2-rank frost-train runs of a linear regression
# and a multilabel problem learn (the last evaluation far better than a trivial predictor's
# score), their evaluation lines, metrics.jsonl and eval_report.json carry the task's metrics,
# frost-predict writes the K values or 0/1 labels (3 ranks, file order), frost-prep text and
# synthetic write the task's files; a file of another task and an eval.metric of another task
# are refused with one line naming them.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
P="$FROST_BIN/frost-predict"
PREP="$FROST_BIN/frost-prep"
make_data "$WORK/reg_train.h5" --n 384 --dim 4 --classes 2 --task regression --seed 2
make_data "$WORK/reg_test.h5" --n 61 --dim 4 --classes 2 --task regression --seed 3
make_data "$WORK/ml_train.h5" --n 384 --dim 5 --classes 3 --task multilabel --seed 2
make_data "$WORK/ml_test.h5" --n 61 --dim 5 --classes 3 --task multilabel --seed 3
make_data "$WORK/cls.h5" --n 32 --dim 4 --classes 2

run_ini() {  # NAME TASK METRIC TRAIN TEST
  cat > "$WORK/$1.ini" <<INI
[model]
backbone = mlp
mlp_hidden = 32
[data]
train = $4
test = $5
batch_size = 16
eval_batch_size = 8
[train]
task = $2
epochs = 6
threads = 1
[optim]
name = adamw
lr = 0.01
weight_decay = 0
[eval]
metric = $3
[checkpoint]
keep_best = true
[log]
dir = $WORK/$1
INI
}

# ---- regression: a linear target; R2 near 1 (a constant predictor scores 0) -------------------
run_ini reg regression rmse "$WORK/reg_train.h5" "$WORK/reg_test.h5"
train -np 2 "$T" --config "$WORK/reg.ini" > "$WORK/reg.txt" 2>&1 || { cat "$WORK/reg.txt"; fail "regression run failed"; }
expect_in "$WORK/reg.txt" "(61 samples) | MAE "
"$PY" - "$WORK/reg/metrics.jsonl" "$WORK/reg/eval_report.json" "$WORK/reg/best/best.json" <<'PY'
import json, sys
evals = [json.loads(l) for l in open(sys.argv[1]) if '"eval"' in l]
evals = [e for e in evals if e["kind"] == "eval"]
assert len(evals) == 6, len(evals)
first, last = evals[0], evals[-1]
assert last["task"] == "regression" and "confusion" not in last and "eval_accuracy" not in last, last
assert len(last["target_r2"]) == 2 and len(last["target_rmse"]) == 2, last
assert last["eval_loss"] < 0.1 * first["eval_loss"], (first["eval_loss"], last["eval_loss"])
assert last["r2"] > 0.95, last["r2"]
assert abs(last["rmse"] - sum(last["target_rmse"]) / 2) < 1e-12
rep = json.load(open(sys.argv[2]))
assert rep["task"] == "regression" and rep["num_targets"] == 2 and rep["loss"] == last["eval_loss"], rep
best = json.load(open(sys.argv[3]))
assert best["metric"] == "rmse" and best["value"] == min(e["rmse"] for e in evals), best
PY
pass "regression learns (R2 > 0.95), metrics.jsonl, eval_report.json, best by rmse"

train -np 3 "$P" --run "$WORK/reg" --data "$WORK/reg_test.h5" --out "$WORK/reg_pred.csv" \
  > "$WORK/reg_pred.txt" 2>&1 || { cat "$WORK/reg_pred.txt"; fail "frost-predict (regression) failed"; }
"$PY" - "$WORK/reg_pred.csv" "$WORK/reg_test.h5" "$WORK/reg/metrics.jsonl" <<'PY'
import csv, json, sys, h5py
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["index", "target_0", "target_1"], rows[0]
t = h5py.File(sys.argv[2], "r")["targets"][:]
assert len(rows) == 62
se = 0.0
for i, r in enumerate(rows[1:]):
    assert int(r[0]) == i
    se += sum((float(r[1 + k]) - float(t[i][k])) ** 2 for k in range(2))
last = [json.loads(l) for l in open(sys.argv[3]) if '"eval"' in l][-1]
assert abs(se / (61 * 2) - last["eval_loss"]) < 1e-5 * max(1, last["eval_loss"]), (se / 122, last["eval_loss"])
PY
pass "frost-predict regression: K values per row, their MSE is the run's"

# ---- multilabel: better than any constant predictor ------------------------------------------
run_ini ml multilabel micro_f1 "$WORK/ml_train.h5" "$WORK/ml_test.h5"
train -np 2 "$T" --config "$WORK/ml.ini" > "$WORK/ml.txt" 2>&1 || { cat "$WORK/ml.txt"; fail "multilabel run failed"; }
expect_in "$WORK/ml.txt" "test exact match "
"$PY" - "$WORK/ml/metrics.jsonl" "$WORK/ml/eval_report.json" "$WORK/ml_test.h5" <<'PY'
import json, sys, h5py
import numpy as np
evals = [json.loads(l) for l in open(sys.argv[1])]
evals = [e for e in evals if e["kind"] == "eval"]
last = evals[-1]
t = h5py.File(sys.argv[3], "r")["targets"][:].astype(bool)
# Best constant predictors: every label on (micro F1), the most frequent row (exact match).
pos = t.sum()
all_on = 2 * pos / (pos + t.size)
rows, counts = np.unique(t, axis=0, return_counts=True)
assert last["task"] == "multilabel" and "confusion" not in last, last
assert last["micro_f1"] > all_on + 0.15, (last["micro_f1"], all_on)
assert last["eval_accuracy"] > counts.max() / len(t) + 0.2, (last["eval_accuracy"], counts.max() / len(t))
assert last["eval_loss"] < evals[0]["eval_loss"]
assert last["support"] == [int(x) for x in t.sum(0)], (last["support"], t.sum(0))
rep = json.load(open(sys.argv[2]))
assert rep["accuracy"] == last["eval_accuracy"] and len(rep["labels"]) == 3 and rep["threshold"] == 0.5, rep
PY
pass "multilabel learns (micro F1 and exact match above the constant predictors')"

train -np 3 "$P" --run "$WORK/ml" --data "$WORK/ml_test.h5" --out "$WORK/ml_pred.csv" --probabilities \
  > "$WORK/ml_pred.txt" 2>&1 || { cat "$WORK/ml_pred.txt"; fail "frost-predict (multilabel) failed"; }
"$PY" - "$WORK/ml_pred.csv" "$WORK/ml_test.h5" "$WORK/ml/metrics.jsonl" <<'PY'
import csv, json, sys, h5py
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["index", "label_0", "label_1", "label_2", "p_label_0", "p_label_1", "p_label_2"], rows[0]
t = h5py.File(sys.argv[2], "r")["targets"][:]
exact = 0
for i, r in enumerate(rows[1:]):
    assert int(r[0]) == i and all(v in ("0", "1") for v in r[1:4]), r
    assert all((float(p) >= 0.5) == (v == "1") for v, p in zip(r[1:4], r[4:])), r
    exact += all(int(r[1 + k]) == t[i][k] for k in range(3))
last = [json.loads(l) for l in open(sys.argv[3]) if '"eval"' in l][-1]
assert abs(exact / 61 - last["eval_accuracy"]) < 1e-12, (exact, last["eval_accuracy"])
PY
pass "frost-predict multilabel: 0/1 per label and probabilities; exact match is the run's"

# ---- refusals: one line each, non-zero exit --------------------------------------------------
refused() {  # NAME TEXT ARGS...
  local name=$1 text=$2
  shift 2
  if train -np 2 "$T" "$@" > "$WORK/$name.txt" 2>&1; then fail "$name: accepted"; fi
  expect_in "$WORK/$name.txt" "$text"
  pass "$name refused"
}
refused task_mismatch "data.train $WORK/reg_train.h5 has task = regression but train.task = classification; set train.task = regression to train on it" \
  --data.train "$WORK/reg_train.h5" --model.backbone mlp --log.dir "$WORK/x1"
refused test_task_mismatch "data.test $WORK/cls.h5 has task = classification but train.task = multilabel" \
  --data.train "$WORK/ml_train.h5" --data.test "$WORK/cls.h5" --train.task multilabel --model.backbone mlp --log.dir "$WORK/x2"
refused metric_mismatch "eval.metric = eval_accuracy is not a metric of train.task = regression; use one of: eval_loss | mae | rmse | r2" \
  --data.train "$WORK/reg_train.h5" --train.task regression --eval.metric eval_accuracy --model.backbone mlp --log.dir "$WORK/x3"
refused metric_mismatch2 "eval.metric = r2 is not a metric of train.task = multilabel" \
  --data.train "$WORK/ml_train.h5" --train.task multilabel --eval.metric r2 --model.backbone mlp --log.dir "$WORK/x4"
"$PY" - "$WORK/ml_train.h5" "$WORK/typo.h5" <<'PY'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "a") as f:
    f.attrs["task"] = "multilable"
PY
refused task_typo "$WORK/typo.h5: unknown task 'multilable'; expected one of: classification, multilabel, regression" \
  --data.train "$WORK/typo.h5" --train.task multilabel --model.backbone mlp --log.dir "$WORK/x5"
if train -np 2 "$P" --run "$WORK/reg" --data "$WORK/ml_test.h5" --out "$WORK/x.csv" > "$WORK/pm.txt" 2>&1; then fail "predict task mismatch accepted"; fi
expect_in "$WORK/pm.txt" "--data $WORK/ml_test.h5 has task = multilabel but the run's model was trained for train.task = regression"
pass "frost-predict task mismatch refused"

# ---- frost-prep text --task and synthetic --task ----------------------------------------------
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' good bad film very > "$WORK/vocab.txt"
{
  printf 'label,text\n'
  for i in $(seq 1 10); do printf 'a|b,good film\nb,bad film\n,very bad\n'; done
} > "$WORK/ml.csv"
"$PREP" text --csv "$WORK/ml.csv" --vocab "$WORK/vocab.txt" --out "$WORK/prep_ml" --max-len 6 \
  --task multilabel > "$WORK/prep_ml.txt" 2>&1 || { cat "$WORK/prep_ml.txt"; fail "prep text multilabel"; }
{
  printf 'label,text\n'
  for i in $(seq 1 10); do printf '"0.5|%s",good film\n-1e1|2,bad film\n' "$i"; done
} > "$WORK/reg.csv"
"$PREP" text --csv "$WORK/reg.csv" --vocab "$WORK/vocab.txt" --out "$WORK/prep_reg" --max-len 6 \
  --task regression > "$WORK/prep_reg.txt" 2>&1 || { cat "$WORK/prep_reg.txt"; fail "prep text regression"; }
"$PREP" synthetic --kind tokens --rows 20 --seq-len 8 --num-classes 4 --task multilabel \
  --out "$WORK/synth" > "$WORK/synth.txt" 2>&1 || { cat "$WORK/synth.txt"; fail "prep synthetic multilabel"; }
"$PY" - "$WORK" <<'PY'
import json, sys, h5py
import numpy as np
w = sys.argv[1]
for split in ("train", "test"):
    f = h5py.File(f"{w}/prep_ml/{split}.h5", "r")
    assert f.attrs["task"] == "multilabel" and f.attrs["num_classes"] == 2, dict(f.attrs)
    assert f["targets"].dtype == np.uint8 and f["targets"].shape == (f["inputs"].shape[0], 2)
    assert json.loads(f.attrs["label_values"]) == ["a", "b"]
    assert "labels" not in f
ml = np.concatenate([h5py.File(f"{w}/prep_ml/{s}.h5", "r")["targets"][:] for s in ("train", "test")])
assert sorted(map(tuple, ml.tolist())) == sorted([(1, 1), (0, 1), (0, 0)] * 10)
reg = np.concatenate([h5py.File(f"{w}/prep_reg/{s}.h5", "r")["targets"][:] for s in ("train", "test")])
f = h5py.File(f"{w}/prep_reg/train.h5", "r")
assert f.attrs["task"] == "regression" and f.attrs["num_targets"] == 2 and f["targets"].dtype == np.float32
want = sorted([(0.5, float(i)) for i in range(1, 11)] + [(-10.0, 2.0)] * 10)
assert sorted(map(tuple, reg.tolist())) == want, reg
s = h5py.File(f"{w}/synth/train.h5", "r")
assert s.attrs["task"] == "multilabel" and s["targets"].shape == (20, 4) and set(np.unique(s["targets"][:])) <= {0, 1}
PY
pass "frost-prep text --task multilabel|regression and synthetic --task"
printf 'label,text\n1|x,good\n2,bad\n' > "$WORK/bad.csv"
if "$PREP" text --csv "$WORK/bad.csv" --vocab "$WORK/vocab.txt" --out "$WORK/prep_bad" --task regression > "$WORK/bad.txt" 2>&1; then fail "bad regression CSV accepted"; fi
expect_in "$WORK/bad.txt" "bad.csv: line 2: target 1 = 'x' is not a finite number"
[[ ! -e "$WORK/prep_bad" ]] || fail "prep_bad written"
pass "frost-prep text --task regression: a bad number names the line"
