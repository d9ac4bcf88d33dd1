#!/usr/bin/env bash
# Resuming on another number of ranks (Note [Resuming on another world size] in
# src/frost/train/checkpoint.h, Note [Another world size] in src/frost/data/sampler.h): a job of
# 2 ranks killed at step 12 resumes on 4 ranks, and one of 4 ranks on 2, with the same config
# (data.batch_size as the first run had it). The resumed run keeps the global batch 8 (micro-batch
# 4 -> 2 on 4 ranks; 2 with 2 accumulation steps on 2 ranks), says so, and reads the same global
# batches (64 samples: no world size drops one); its learning rates are those of the uninterrupted
# runs exactly, and its evaluations and final parameters match both uninterrupted runs (2 and 4
# ranks) within float reduction-order rounding: max |difference| <= 1e-6 for parameters (0.4 at
# most; measured <= 6e-8, about one float32 ulp there) and <= 1e-6 relative for the evaluation
# loss (not bitwise in general: the ranks' sums are added in another order; 4 -> 2 happened to
# equal the 4-rank run bitwise here, which MPI's reduction order does not promise). A world size
# that cannot share the global batch is refused, naming the ones that can. With the block shuffle
# (whose order depends on the world size) the resume warns what changes.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
make_data "$WORK/train.h5" --n 64 --dim 8 --classes 3
make_data "$WORK/test.h5" --n 24 --dim 8 --classes 3 --seed 1
# 64 samples, global batch 8: 8 steps per epoch; checkpoints at steps 5, 8 (epoch end), 10 and 15.
common=(--data.test "$WORK/test.h5" --model.backbone mlp
        --model.mlp_hidden 16,16 --train.epochs 3 --train.max_steps 20 --train.threads 1
        --checkpoint.every_steps 5 --optim.name adamw --optim.lr 0.01 --optim.warmup_steps 3)
plain=(--data.train "$WORK/train.h5")

# The uninterrupted runs: 2 ranks x 4 and 4 ranks x 2.
train -np 2 "$T" "${common[@]}" "${plain[@]}" --data.batch_size 4 --log.dir "$WORK/a2" > "$WORK/a2.out" 2>&1 \
  || { cat "$WORK/a2.out"; fail "uninterrupted 2-rank run"; }
train -np 4 "$T" "${common[@]}" "${plain[@]}" --data.batch_size 2 --log.dir "$WORK/a4" > "$WORK/a4.out" 2>&1 \
  || { cat "$WORK/a4.out"; fail "uninterrupted 4-rank run"; }

# kill_then_resume NAME NP_FIRST BATCH NP_RESUMED [ARGS...]: killed at step 12 (latest checkpoint:
# step 10, epoch 2 step 2), then resumed with the same arguments on NP_RESUMED ranks.
kill_then_resume() {
  local name=$1 np1=$2 batch=$3 np2=$4
  shift 4
  if FROST_FAULT_INJECT=rank=1,at=step:12,action=kill train -np "$np1" "$T" "${common[@]}" "$@" \
       --data.batch_size "$batch" --log.dir "$WORK/$name" > "$WORK/$name.1.out" 2>&1; then
    fail "$name: the killed run exited 0"
  fi
  grep -qx "step-000000010.pt" "$WORK/$name/checkpoints/latest" || fail "$name: latest is not step 10"
  train -np "$np2" "$T" "${common[@]}" "$@" --data.batch_size "$batch" --log.dir "$WORK/$name" \
    --resume auto > "$WORK/$name.2.out" 2>&1 || { cat "$WORK/$name.2.out"; fail "$name: resume"; }
}

kill_then_resume b 2 4 4 "${plain[@]}"
expect_in "$WORK/b.2.out" "--resume: the checkpoint's global batch 8 (2 ranks x data.batch_size 4 x train.grad_accum_steps 1) is kept on 4 rank(s): data.batch_size 4 -> 2, train.grad_accum_steps 1 -> 1 (the configured values make 16"
expect_in "$WORK/b.2.out" "global batch 8 = 4 ranks x 2 micro-batch x 1 accumulation steps"
expect_in "$WORK/b.2.out" "step 10, epoch 2, step 2 of that epoch (written by 2 rank(s), now 4)"
expect_in "$WORK/b.2.out" "data order kept: the same permutation and global batch of 8 samples at every step, dealt to 4 ranks instead of 2"
grep -qx "batch_size = 2" "$WORK/b/config.ini" || fail "config.ini does not hold the micro-batch in effect"
pass "2 -> 4 ranks: global batch 8 kept as 4 ranks x micro-batch 2, logged and in config.ini"

kill_then_resume c 4 2 2 "${plain[@]}"
expect_in "$WORK/c.2.out" "is kept on 2 rank(s): data.batch_size 2 -> 2, train.grad_accum_steps 1 -> 2"
expect_in "$WORK/c.2.out" "global batch 8 = 2 ranks x 2 micro-batch x 2 accumulation steps"
expect_in "$WORK/c.2.out" "data order kept: the same permutation and global batch of 8 samples at every step, dealt to 2 ranks instead of 4"
pass "4 -> 2 ranks: global batch 8 kept as 2 ranks x micro-batch 2 x 2 accumulation steps"

# Steps, samples and learning rates exactly those of the uninterrupted runs; evaluations and
# final parameters within the stated tolerance of both.
"$FROST_PYTHON" - "$WORK" <<'PY' || fail "a resumed run does not match the uninterrupted runs"
import json, sys, torch
work = sys.argv[1]
def records(run, kind):
    out = {}
    for line in open(f"{work}/{run}/metrics.jsonl"):
        r = json.loads(line)
        if r["kind"] == kind:
            out[r["step"] if kind == "train" else r["epoch"]] = r   # the last of a repeated step
    return out
ref = {run: records(run, "train") for run in ("a2", "a4")}
assert sorted(ref["a2"]) == sorted(ref["a4"]) == list(range(1, 21))
for run in ("b", "c"):
    tr = records(run, "train")
    assert sorted(tr) == list(range(1, 21)), (run, sorted(tr))
    for s in range(11, 21):
        assert tr[s]["samples"] == 8, (run, s, tr[s]["samples"])
        assert tr[s]["lr"] == ref["a2"][s]["lr"] == ref["a4"][s]["lr"], (run, s)
    ev = records(run, "eval")
    for e in (2, 3):
        for other in ("a2", "a4"):
            want = records(other, "eval")[e]["eval_loss"]
            assert abs(ev[e]["eval_loss"] - want) <= 1e-6 * abs(want), (run, other, e, ev[e]["eval_loss"], want)
    model = torch.load(f"{work}/{run}/model.pt")
    for other in ("a2", "a4"):
        ref_model = torch.load(f"{work}/{other}/model.pt")
        assert model.keys() == ref_model.keys()
        diff = max((model[k].double() - ref_model[k].double()).abs().max().item() for k in model)
        size = max(ref_model[k].abs().max().item() for k in model)
        print(f"{run} vs {other}: max |parameter difference| {diff:.3g} (largest parameter {size:.3g})")
        assert diff <= 1e-6, (run, other, diff)
# The two uninterrupted runs differ as little: the same math in another reduction order.
a2, a4 = torch.load(f"{work}/a2/model.pt"), torch.load(f"{work}/a4/model.pt")
print(f"a2 vs a4: max |parameter difference| {max((a2[k].double() - a4[k].double()).abs().max().item() for k in a2):.3g}")
PY
pass "2 -> 4 and 4 -> 2: steps, samples and LR exact; eval loss and parameters within rounding of uninterrupted 2- and 4-rank runs"

# 3 ranks cannot share 8 rows per step: refused before training, naming 2 and 4, writing nothing.
if train -np 3 "$T" "${common[@]}" "${plain[@]}" --data.batch_size 4 --log.dir "$WORK/d" \
     --resume "$WORK/b/checkpoints/step-000000015.pt" > "$WORK/d.out" 2>&1; then
  fail "a global batch of 8 resumed on 3 ranks"
fi
expect_in "$WORK/d.out" "step-000000015.pt' was written by 4 ranks x data.batch_size 2 x train.grad_accum_steps 1: the global batch 8 cannot be shared equally by 3 ranks: resume on 2 or 4 ranks"
[[ ! -e "$WORK/d" ]] || fail "the refused resume wrote to its log.dir"
pass "3 ranks refused, naming the world sizes that keep the global batch"

# The block shuffle's order depends on the world size: the resume says what changes, as a warning.
make_data "$WORK/gz.h5" --n 64 --dim 8 --classes 3 --chunk-rows 8 --gzip 4
kill_then_resume e 2 4 4 --data.train "$WORK/gz.h5" --data.chunk_cache_mb 0
expect_in "$WORK/e.2.out" "data: block shuffle (auto"
expect_in "$WORK/e.2.out" "[warning] data order changes (block shuffle: which rows form a step depends on the world size): epochs from 3 on are full passes in the order of 4 ranks instead of 2; the rest of epoch 2 (steps 3..8) takes that order's batches, so some of its samples are seen twice in it and others not at all"
pass "block shuffle: 2 -> 4 ranks resumes with the global batch kept and warns that the order changes"
