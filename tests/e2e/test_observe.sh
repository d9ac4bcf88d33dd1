#!/usr/bin/env bash
# What people watch, on real runs: the progress line's percent and ETA; log.csv's train.csv,
# epoch.csv and eval.csv against metrics.jsonl, through a kill and --resume auto (appended, one
# header); launch/frost-log tensorboard read back with TensorBoard's EventAccumulator;
# launch/frost-plot drawing two runs, and both tools refusing a directory without metrics.jsonl.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
# launch/frost-log and frost-plot run with the venv's Python (tensorboard, matplotlib; without
# them they fail naming launch/setup.sh).
export FROST_PYTHON
make_data "$WORK/train.h5" --n 96 --dim 8 --classes 3
make_data "$WORK/test.h5" --n 30 --dim 8 --classes 3 --seed 1
# 96 samples / (2 ranks x 8) = 6 steps per epoch, 3 epochs = 18 steps; checkpoints at 5, 10, 15.
common=(--data.train "$WORK/train.h5" --data.test "$WORK/test.h5" --model.backbone mlp
        --model.mlp_hidden 16 --data.batch_size 8 --train.epochs 3 --train.threads 1
        --optim.lr 0.05 --log.every 2 --checkpoint.every_steps 5)

# Run A: killed at step 8 (after epoch 1's evaluation and the step-5 checkpoint), resumed.
if FROST_FAULT_INJECT=rank=1,at=step:8,action=kill train -np 2 "$T" "${common[@]}" --log.csv true \
     --log.dir "$WORK/a" > "$WORK/a1.out" 2>&1; then fail "the killed run exited 0"; fi
train -np 2 "$T" "${common[@]}" --log.csv true --log.dir "$WORK/a" --resume auto > "$WORK/a2.out" 2>&1 \
  || { cat "$WORK/a2.out"; fail "resume"; }
expect_in "$WORK/a2.out" "resumed from"

# The progress line: percent of the whole run and the ETAs. Run 1 logs steps 2, 4, 6 of epoch
# 1; the resumed run goes on at global step 6, the last of epoch 1 (1 step left in it).
expect_in "$WORK/a1.out" "epoch 1 | step 2/6 |"
grep -qE "epoch 1 \| step 2/6 \| .* ms \| run 11\.1%, ETA [0-9]+:[0-5][0-9]:[0-5][0-9] \(epoch [0-9]+:[0-5][0-9]:[0-5][0-9]\)$" "$WORK/a1.out" \
  || { grep "step 2/6" "$WORK/a1.out" >&2; fail "progress line without percent and ETA"; }
expect_in "$WORK/a2.out" "epoch 1 | step 1/1 |"
grep -qE "epoch 1 \| step 1/1 \| .* run 33\.3%, ETA " "$WORK/a2.out" || fail "the resumed run's percent is not of the whole run"
expect_in "$WORK/a2.out" "epoch 3 | step 6/6 |"
grep -qE "epoch 3 \| step 6/6 \| .* run 100\.0%, ETA 0:00:0[0-9] \(epoch 0:00:00\)$" "$WORK/a2.out" \
  || { grep "step 6/6" "$WORK/a2.out" >&2; fail "the last step's line"; }
pass "progress lines: percent of the run and ETA, also after a resume"

# log.csv: one header, rows in metrics.jsonl's order holding its values (the kill's lost steps
# 6-7 and epoch 1's evaluation appear twice in both).
"$PY" - "$WORK/a" <<'PY'
import csv, json, sys
d = sys.argv[1]
records = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
for kind, name, min_rows in (("train", "train.csv", 19), ("epoch", "epoch.csv", 4), ("eval", "eval.csv", 4)):
    lines = open(f"{d}/{name}").read().splitlines()
    header = lines[0].split(",")
    assert sum(l == lines[0] for l in lines) == 1, f"{name}: the header appears more than once"
    rows = list(csv.DictReader(open(f"{d}/{name}", newline="")))
    recs = [r for r in records if r["kind"] == kind]
    assert len(rows) == len(recs) >= min_rows, (name, len(rows), len(recs))
    for i, (row, rec) in enumerate(zip(rows, recs), 2):
        assert list(row) == header
        for k in header:
            v, cell = rec.get(k), row[k]
            if v is None:
                ok = cell == ""
            elif isinstance(v, bool):
                ok = cell == ("true" if v else "false")
            elif isinstance(v, (int, float)):
                ok = cell != "" and float(cell) == v
            else:
                ok = cell == v
            assert ok, f"{name}:{i} column {k}: {cell!r} but metrics.jsonl has {v!r}"
    if kind == "train":
        steps = [int(r["step"]) for r in rows]
        # the killed run wrote steps 1-6, and 7 unless the kill came before its record
        assert steps in (list(range(1, 7)) + list(range(6, 19)), list(range(1, 8)) + list(range(6, 19))), steps
    if kind == "eval":
        assert [int(r["epoch"]) for r in rows] == [1, 1, 2, 3], [r["epoch"] for r in rows]
        assert "eval_accuracy" in header and "macro_f1" in header and "mae" not in header, header
PY
pass "log.csv: train.csv, epoch.csv, eval.csv equal metrics.jsonl's records, appended on --resume"

# Run B: another strategy, one rank, without log.csv: no CSV files.
train -np 1 "$T" "${common[@]}" --train.strategy head --log.dir "$WORK/b" > "$WORK/b.out" 2>&1 \
  || { cat "$WORK/b.out"; fail "run B"; }
for f in train.csv epoch.csv eval.csv; do [[ ! -e "$WORK/b/$f" ]] || fail "log.csv = false wrote $f"; done

# frost-log tensorboard: the events hold every number of the train, epoch and eval records
# (float32), a resumed run's repeated steps once (the later record), converted twice = once.
"$FROST_SRC/launch/frost-log" tensorboard "$WORK/a" "$WORK/b" > "$WORK/tb1.out" 2>&1 || { cat "$WORK/tb1.out"; fail "frost-log"; }
"$FROST_SRC/launch/frost-log" tensorboard "$WORK/a" > "$WORK/tb.out" 2>&1 || { cat "$WORK/tb.out"; fail "frost-log again"; }
expect_in "$WORK/tb.out" "$WORK/a/tensorboard: "
[[ $(ls "$WORK/a/tensorboard" | wc -l) == 1 ]] || { ls -la "$WORK/a/tensorboard"; fail "a second conversion added event files"; }
ls "$WORK/a" | grep -q "tensorboard\.\(tmp\|old\)" && fail "temporary folders left behind"
"$FROST_PYTHON" - "$WORK/a" "$WORK/b" <<'PY'
import json, sys
import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.util import tensor_util
for d in sys.argv[1:]:
    records = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
    expected = {}  # tag -> {step: value}, the last record of a step or epoch winning
    last = {}
    for r in records:
        if r["kind"] in ("train", "epoch", "eval"):
            last[(r["kind"], r["step"] if r["kind"] == "train" else r["epoch"])] = r
    for (kind, _), r in last.items():
        for k, v in r.items():
            if k not in ("kind", "epoch", "step") and isinstance(v, (int, float)) and not isinstance(v, bool):
                expected.setdefault(f"{kind}/{k}", {})[r["step"]] = v
    acc = ea.EventAccumulator(f"{d}/tensorboard", size_guidance={ea.TENSORS: 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert tags == set(expected), (d, sorted(tags ^ set(expected)))
    for tag in ("train/loss", "train/lr", "train/step_ms", "epoch/train_loss", "eval/eval_accuracy", "eval/macro_f1"):
        assert tag in tags, (d, tag)
    for tag in tags:
        events = acc.Tensors(tag)
        got = {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in events}
        assert len(got) == len(events), (d, tag, "a step written twice")
        want = {s: float(np.float32(v)) for s, v in expected[tag].items()}
        assert got == want, (d, tag, got, want)
    walls = [e.wall_time for e in acc.Tensors("train/loss")]
    assert walls == sorted(walls) and walls[-1] > walls[0], walls
    steps = 18 if d == sys.argv[1] else 36  # B: one rank, 12 steps per epoch
    assert sorted(e.step for e in acc.Tensors("train/loss")) == list(range(1, steps + 1)), d
PY
pass "frost-log tensorboard: the events read back with EventAccumulator equal metrics.jsonl"

# frost-plot: one PNG per metric, both runs in each; their data are the runs' records.
"$FROST_SRC/launch/frost-plot" "$WORK/a" "$WORK/b" --out "$WORK/plots" > "$WORK/plot.out" 2>&1 \
  || { cat "$WORK/plot.out"; fail "frost-plot"; }
for m in loss lr eval_accuracy eval_loss macro_f1 micro_f1; do
  expect_in "$WORK/plot.out" "frost-plot: wrote $WORK/plots/$m.png"
done
[[ $(ls "$WORK/plots" | wc -l) == 6 ]] || { ls "$WORK/plots"; fail "other files than the six PNGs"; }
"$FROST_PYTHON" - "$FROST_SRC/launch" "$WORK" <<'PY'
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import frost_metrics, frost_plot
w = sys.argv[2]
for m in ("loss", "lr", "eval_accuracy", "eval_loss", "macro_f1", "micro_f1"):
    png = open(f"{w}/plots/{m}.png", "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", m
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (800, 450), (m, width, height)
runs = {d: frost_metrics.load_run(d) for d in (f"{w}/a", f"{w}/b")}
figs = frost_plot.figures(runs)
assert list(figs) == ["loss", "lr", "eval_accuracy", "eval_loss", "macro_f1", "micro_f1"], list(figs)
for d in runs:
    last = {}
    for l in open(f"{d}/metrics.jsonl"):
        r = json.loads(l)
        if r["kind"] in ("train", "eval"):
            last[(r["kind"], r["step"] if r["kind"] == "train" else r["epoch"])] = r
    train = sorted((r for (k, _), r in last.items() if k == "train"), key=lambda r: r["step"])
    evals = sorted((r for (k, _), r in last.items() if k == "eval"), key=lambda r: r["step"])
    assert figs["loss"]["runs"][d] == ([r["step"] for r in train], [r["loss"] for r in train]), d
    assert figs["lr"]["runs"][d] == ([r["step"] for r in train], [r["lr"] for r in train]), d
    assert figs["macro_f1"]["runs"][d] == ([r["step"] for r in evals], [r["macro_f1"] for r in evals]), d
    assert len(figs["loss"]["runs"][d][0]) == (18 if d.endswith("/a") else 36), d
assert frost_plot.run_label(f"{w}/b", runs[f"{w}/b"]) == f"{w}/b (head)"
PY
pass "frost-plot: six PNGs of two runs, drawn from their records"

# A directory without metrics.jsonl: one clear error line, exit 1, nothing written.
mkdir "$WORK/empty"
if "$FROST_SRC/launch/frost-plot" "$WORK/a" "$WORK/empty" --out "$WORK/plots2" > "$WORK/e.out" 2>&1; then
  fail "frost-plot drew a directory without metrics.jsonl"
fi
expect_in "$WORK/e.out" "frost-plot: error: $WORK/empty: no metrics.jsonl, so not a frost-train run directory (log.dir)"
[[ ! -e "$WORK/plots2" ]] || fail "frost-plot wrote into --out before refusing"
if "$FROST_SRC/launch/frost-log" tensorboard "$WORK/b" "$WORK/empty" > "$WORK/e.out" 2>&1; then
  fail "frost-log converted a directory without metrics.jsonl"
fi
expect_in "$WORK/e.out" "frost-log: error: $WORK/empty: no metrics.jsonl"
[[ ! -e "$WORK/empty/tensorboard" ]] || fail "frost-log wrote into the refused directory"
pass "frost-plot and frost-log refuse a directory without metrics.jsonl"

# A run being written: its last line, not yet ended, is left out; a broken line elsewhere is an
# error naming the file and line.
mkdir "$WORK/c"
cp "$WORK/b/metrics.jsonl" "$WORK/c/metrics.jsonl"
printf '{"kind": "train", "step": 37, "lo' >> "$WORK/c/metrics.jsonl"
"$FROST_SRC/launch/frost-plot" "$WORK/c" > "$WORK/c.out" 2>&1 || { cat "$WORK/c.out"; fail "frost-plot on a line being written"; }
expect_in "$WORK/c.out" "frost-plot: wrote $WORK/c/plots/loss.png"
n=$(wc -l < "$WORK/b/metrics.jsonl")
printf 'ss": 0.1}\nnot json\n' >> "$WORK/c/metrics.jsonl"
if "$FROST_SRC/launch/frost-log" tensorboard "$WORK/c" > "$WORK/c.out" 2>&1; then fail "a broken line accepted"; fi
expect_in "$WORK/c.out" "frost-log: error: $WORK/c/metrics.jsonl:$((n + 2)): not a JSON line"
pass "a line being written is left out; a broken one is named"
