#!/usr/bin/env bash
# frost-predict end to end: a 2-rank frost-train run, then its model predicting the test file on
# 3 ranks (uneven ranges): one CSV row per sample in file order, class names from the file,
# probabilities that sum to 1, and predictions whose confusion matrix and accuracy are those of
# the run's last evaluation (eval_report.json); then bad input, each a one-line error naming the
# file and the rank, with a non-zero exit; then class names (Note [Class names of a run]): a
# test file naming its classes unlike the training file is refused by frost-train, a run keeps
# its training file's names in classes.json, and frost-predict names its predictions from them
# and refuses a file that names the classes otherwise.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
P="$FROST_BIN/frost-predict"
make_data "$WORK/train.h5" --n 96 --dim 8 --classes 3
make_data "$WORK/test.h5" --n 31 --dim 8 --classes 3 --seed 1
# class names, as frost-prep text writes them
"$PY" - "$WORK/test.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    f.attrs["label_values"] = '["ant", "bee, the", "cat"]'
PY
cat > "$WORK/run.ini" <<INI
[model]
backbone = mlp
mlp_hidden = 16
[data]
train = $WORK/train.h5
test = $WORK/test.h5
batch_size = 8
eval_batch_size = 4
[train]
epochs = 2
threads = 1
[optim]
lr = 0.05
[log]
dir = $WORK/run
INI
train -np 2 "$T" --config "$WORK/run.ini" > "$WORK/train.txt" 2>&1 || { cat "$WORK/train.txt"; fail "frost-train failed"; }
[[ -s "$WORK/run/eval_report.json" ]] || fail "no eval_report.json"

"$P" --help > "$WORK/help.txt"
for opt in --run --data --out --probabilities; do expect_in "$WORK/help.txt" "$opt"; done
pass "--help"

train -np 3 "$P" --run "$WORK/run" --data "$WORK/test.h5" --out "$WORK/pred.csv" --probabilities \
  > "$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; fail "frost-predict failed"; }
# The evaluation line of frost-train's last epoch, for the same model and file.
train_line=$(grep -o 'test accuracy [0-9.]* ([0-9]* samples) | test loss [0-9.]* | macro F1 [0-9.]*' "$WORK/train.txt" | tail -1)
[[ -n "$train_line" ]] || fail "no evaluation line in frost-train's output"
expect_in "$WORK/out.txt" "$WORK/test.h5: $train_line"
expect_in "$WORK/out.txt" "wrote 31 predictions to $WORK/pred.csv"
"$PY" - "$WORK/pred.csv" "$WORK/test.h5" "$WORK/run/eval_report.json" <<'PY'
import csv, json, sys, h5py
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["index", "predicted_index", "predicted", "p_ant", "p_bee, the", "p_cat"], rows[0]
rows = rows[1:]
labels = h5py.File(sys.argv[2], "r")["labels"][:]
assert len(rows) == len(labels) == 31, len(rows)
names = ["ant", "bee, the", "cat"]
confusion = [[0] * 3 for _ in range(3)]
for i, r in enumerate(rows):
    assert int(r[0]) == i, ("not in file order", i, r)
    k = int(r[1])
    assert r[2] == names[k], r
    p = [float(x) for x in r[3:]]
    assert abs(sum(p) - 1) < 1e-6, p
    assert max(range(3), key=lambda c: p[c]) == k, ("argmax of the probabilities", r)
    confusion[labels[i]][k] += 1
report = json.load(open(sys.argv[3]))
assert report["confusion"] == confusion, (report["confusion"], confusion)
correct = sum(confusion[c][c] for c in range(3))
assert report["accuracy"] == correct / 31, (report["accuracy"], correct)
assert [c["name"] for c in report["classes"]] == names, report["classes"]
PY
pass "3-rank predictions equal the run's evaluation"

# Without --probabilities: three columns; one rank gives the same predictions.
train -np 1 "$P" --run "$WORK/run" --data "$WORK/test.h5" --out "$WORK/pred1.csv" > "$WORK/out1.txt" 2>&1 \
  || { cat "$WORK/out1.txt"; fail "1-rank frost-predict failed"; }
diff <(cut -d, -f1-2 "$WORK/pred.csv") <(cut -d, -f1-2 "$WORK/pred1.csv") > /dev/null \
  || fail "1-rank and 3-rank predictions differ"
[[ $(head -1 "$WORK/pred1.csv") == "index,predicted_index,predicted" ]] || fail "header without --probabilities"
pass "1-rank predictions equal 3-rank ones"

# Bad input: a non-zero exit and one error line naming the file and the rank; no output file.
expect_error() {  # expect_error NAME TEXT ARGS...: frost-predict ARGS fails with TEXT
  local name=$1 text=$2
  shift 2
  rm -f "$WORK/bad.csv"
  if train -np 2 "$P" "$@" --out "$WORK/bad.csv" > "$WORK/bad.txt" 2>&1; then fail "$name: accepted"; fi
  expect_in "$WORK/bad.txt" "frost-predict: error: [rank "
  expect_in "$WORK/bad.txt" "$text"
  [[ ! -e "$WORK/bad.csv" ]] || fail "$name: wrote $WORK/bad.csv"
  pass "bad input: $name"
}
expect_error "missing run dir" "--run '$WORK/nope' is not a directory" --run "$WORK/nope" --data "$WORK/test.h5"
mkdir -p "$WORK/unfinished" && cp "$WORK/run/config.ini" "$WORK/unfinished/"
expect_error "missing model.pt" "$WORK/unfinished/model.pt is missing" --run "$WORK/unfinished" --data "$WORK/test.h5"
make_data "$WORK/wide.h5" --n 10 --dim 5 --classes 3
expect_error "input shape" "--data $WORK/wide.h5 (features inputs of shape [5]) does not fit the model of --run '$WORK/run'" \
  --run "$WORK/run" --data "$WORK/wide.h5"
make_data "$WORK/more.h5" --n 10 --dim 8 --classes 5
expect_error "num_classes" "--data $WORK/more.h5 has num_classes 5 but the model $WORK/run/model.pt has 3 classes" \
  --run "$WORK/run" --data "$WORK/more.h5"
expect_error "missing data" "$WORK/none.h5" --run "$WORK/run" --data "$WORK/none.h5"
if "$P" --run "$WORK/run" --data "$WORK/test.h5" > "$WORK/bad.txt" 2>&1; then fail "--out missing: accepted"; fi
expect_in "$WORK/bad.txt" "frost-predict: error: --out is required"
pass "bad input: missing --out"

# ---- class names: one index, one class ---------------------------------------------------------
names() {  # names FILE JSON_LIST: the label_values attribute, as frost-prep text writes it
  "$PY" - "$1" "$2" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    f.attrs["label_values"] = sys.argv[2]
PY
}
cp "$WORK/train.h5" "$WORK/named-train.h5"
names "$WORK/named-train.h5" '["ant", "bee, the", "cat"]'
cp "$WORK/test.h5" "$WORK/other-test.h5"
names "$WORK/other-test.h5" '["ant", "bee, the", "cow"]'
if train -np 2 "$T" --config "$WORK/run.ini" --data.train "$WORK/named-train.h5" \
  --data.test "$WORK/other-test.h5" --log.dir "$WORK/mismatch" > "$WORK/mismatch.txt" 2>&1; then
  fail "frost-train accepted a test file that names class 2 otherwise"
fi
expect_in "$WORK/mismatch.txt" "class 2 is 'cat' in data.train $WORK/named-train.h5 but 'cow' in data.test $WORK/other-test.h5"
[[ ! -e "$WORK/mismatch/model.pt" ]] || fail "the refused run wrote a model"
pass "frost-train refuses train/test files that name a class differently"

train -np 2 "$T" --config "$WORK/run.ini" --data.train "$WORK/named-train.h5" --train.epochs 1 \
  --log.dir "$WORK/named" > "$WORK/named.txt" 2>&1 || { cat "$WORK/named.txt"; fail "frost-train (named) failed"; }
"$PY" - "$WORK/named/classes.json" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))["classes"]
assert got == ["ant", "bee, the", "cat"], got
PY
make_data "$WORK/unnamed.h5" --n 7 --dim 8 --classes 3 --seed 2
"$P" --run "$WORK/named" --data "$WORK/unnamed.h5" --out "$WORK/named.csv" > "$WORK/named-pred.txt" 2>&1 ||
  { cat "$WORK/named-pred.txt"; fail "frost-predict on a file without names failed"; }
"$PY" - "$WORK/named.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
names = {r[2] for r in rows[1:]}
assert names and names <= {"ant", "bee, the", "cat"}, names
PY
expect_error "other class names" "class 2 is 'cat' in the run '$WORK/named' (classes.json) but 'cow' in --data $WORK/other-test.h5" \
  --run "$WORK/named" --data "$WORK/other-test.h5"
pass "classes.json: predictions named from the run; a file naming the classes otherwise is refused"
