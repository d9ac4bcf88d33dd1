#!/usr/bin/env bash
# Checkpoint and resume across a real SIGKILL: a 2-rank run killed at step 8 and resumed with
# --resume auto ends with the model.pt of an uninterrupted run, byte for byte; a job killed
# while it writes a checkpoint leaves the previous one loadable (the write is atomic).
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
make_data "$WORK/train.h5" --n 64 --dim 8 --classes 3
common=(--data.train "$WORK/train.h5" --model.backbone mlp --model.mlp_hidden 16,16 --data.batch_size 4
        --train.epochs 3 --train.max_steps 14 --train.threads 1 --checkpoint.every_steps 5
        --optim.name adamw --optim.lr 0.01 --optim.warmup_steps 3)

train -np 2 "$T" "${common[@]}" --log.dir "$WORK/a" > "$WORK/a.out" 2>&1 || { cat "$WORK/a.out"; fail "run A"; }

if FROST_FAULT_INJECT=rank=1,at=step:8,action=kill train -np 2 "$T" "${common[@]}" --log.dir "$WORK/b" \
     > "$WORK/b1.out" 2>&1; then fail "the killed run exited 0"; fi
[[ -f "$WORK/b/checkpoints/latest" ]] || fail "no checkpoint before the kill"
[[ ! -e "$WORK/b/model.pt" ]] || fail "the killed run wrote model.pt"
train -np 2 "$T" "${common[@]}" --log.dir "$WORK/b" --resume auto > "$WORK/b2.out" 2>&1 \
  || { cat "$WORK/b2.out"; fail "resume"; }
expect_in "$WORK/b2.out" "resumed from"
cmp "$WORK/a/model.pt" "$WORK/b/model.pt" || fail "resumed model.pt differs from the uninterrupted run's"
# model.pt and a checkpoint open with Python's plain torch.load (weights_only=True, the default
# since PyTorch 2.6: no TorchScript type tags in the pickle) and hold what they promise.
"$FROST_PYTHON" - "$WORK/a/model.pt" "$WORK/b/checkpoints/$(cat "$WORK/b/checkpoints/latest")" <<'PY' \
  || fail "torch.load could not read model.pt or a checkpoint"
import sys, torch
model = torch.load(sys.argv[1])
assert isinstance(model, dict) and model and all(isinstance(v, torch.Tensor) for v in model.values()), model
assert all(v.device.type == "cpu" for v in model.values())
ckpt = torch.load(sys.argv[2])
for k in ("model", "optimizer", "rng", "global_step", "epoch", "step_in_epoch", "world_size", "config"):
    assert k in ckpt, k
assert ckpt["model"].keys() == model.keys()
assert isinstance(ckpt["config"], str) and ckpt["world_size"] == 2
PY
pass "torch.load reads model.pt and checkpoints"
"$PY" - "$WORK/a/metrics.jsonl" "$WORK/b/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
ta = {r["step"]: r for r in a if r["kind"] == "train"}
tb = {r["step"]: r for r in b if r["kind"] == "train"}   # steps 6-7 appear twice in b: lost work
assert sorted(ta) == list(range(1, 15)) and sorted(tb) == list(range(1, 15)), (sorted(ta), sorted(tb))
for s in range(6, 15):
    assert ta[s]["lr"] == tb[s]["lr"] and ta[s]["loss"] == tb[s]["loss"], s
PY
pass "SIGKILL at step 8 + --resume auto == uninterrupted (model.pt byte-identical, LR and loss of steps 6-14)"

# A checkpoint file cut short (as by a kill during a write that skipped the atomic rename) is
# never what `latest` points to: the writer renames only complete files.
ls "$WORK/b/checkpoints" > "$WORK/ls.txt"
expect_in "$WORK/ls.txt" "latest"
if grep -q "tmp" "$WORK/ls.txt"; then fail "temporary checkpoint files left behind"; fi
# Another world size: test_resume_world_size.sh.

# Killed half-way through writing the step-10 checkpoint: `latest` still names step 5, which
# loads, and the resumed run again ends with the uninterrupted run's model.pt.
if FROST_FAULT_INJECT=rank=0,at=checkpoint:10,action=kill train -np 2 "$T" "${common[@]}" --log.dir "$WORK/c" \
     > "$WORK/c1.out" 2>&1; then fail "the run killed mid-checkpoint exited 0"; fi
ls "$WORK/c/checkpoints" > "$WORK/lsc.txt"
expect_in "$WORK/lsc.txt" "step-000000010.pt.tmp."     # the half-written file is there...
grep -qx "step-000000005.pt" "$WORK/c/checkpoints/latest" || fail "latest moved to a half-written checkpoint"
train -np 2 "$T" "${common[@]}" --log.dir "$WORK/c" --resume auto > "$WORK/c2.out" 2>&1 \
  || { cat "$WORK/c2.out"; fail "resume after a kill mid-checkpoint"; }
expect_in "$WORK/c2.out" "step 5, epoch"                 # ...but the resume took step 5
cmp "$WORK/a/model.pt" "$WORK/c/model.pt" || fail "resumed model.pt differs after a kill mid-checkpoint"
pass "kill during a checkpoint write: previous checkpoint loads, result unchanged"

# checkpoint.keep_best and checkpoint.export = best turned on at a resume whose checkpoint already
# has a best epoch: no model of that epoch was kept, so the resume is refused at start-up with a
# way out, instead of failing at the export after the whole run.
make_data "$WORK/kb.h5" --n 64 --dim 8 --classes 3
kb=(--data.train "$WORK/kb.h5" --data.test "$WORK/kb.h5" --model.backbone mlp --model.mlp_hidden 8
    --data.batch_size 8 --train.epochs 4 --train.threads 1 --checkpoint.every_epoch true
    --eval.metric eval_loss --log.dir "$WORK/kb")
if FROST_FAULT_INJECT=rank=*,at=step:9,action=kill train -np 2 "$T" "${kb[@]}" > "$WORK/kb1.out" 2>&1; then
  fail "the run killed at step 9 exited 0"
fi
if train -np 2 "$T" "${kb[@]}" --checkpoint.keep_best true --checkpoint.export best --resume auto \
     > "$WORK/kb2.out" 2>&1; then fail "export = best without a kept best model resumed"; fi
expect_in "$WORK/kb2.out" "has no kept model"
expect_in "$WORK/kb2.out" "resume with checkpoint.export = last"
! grep -q "epoch 3 done" "$WORK/kb2.out" || fail "the refused resume trained before failing"
train -np 2 "$T" "${kb[@]}" --checkpoint.export last --resume auto > "$WORK/kb3.out" 2>&1 \
  || { cat "$WORK/kb3.out"; fail "resume with checkpoint.export = last"; }
pass "export = best without a kept best model: refused at the resume, export = last resumes"
