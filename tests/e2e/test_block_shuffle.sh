#!/usr/bin/env bash
# The block shuffle (Note [Block shuffle] in src/frost/data/sampler.h) in a real 2-rank job: a
# gzip-compressed training set larger than data.chunk_cache_mb is shuffled by blocks (auto) and
# says so; a run killed at step 8 and resumed ends with the model.pt of an uninterrupted run,
# byte for byte (the order of a resumed epoch is recomputed, not stored); a file that fits keeps
# the global permutation; data.shuffle_mode = global is obeyed with a warning.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
# 96 rows of 2048 float32 (8 KiB) in 12 gzip chunks of 8 rows: 768 KiB decoded, more than a
# budget of 0 MiB; the window is then one block (8 rows), rounded to a multiple of the batch.
make_data "$WORK/big.h5" --n 96 --dim 2048 --classes 3 --chunk-rows 8 --gzip 4
common=(--data.train "$WORK/big.h5" --model.backbone mlp --model.mlp_hidden 16 --data.batch_size 4
        --train.epochs 3 --train.max_steps 20 --train.threads 1 --checkpoint.every_steps 5
        --optim.name adamw --optim.lr 0.01)
over=(--data.chunk_cache_mb 0)

train -np 2 "$T" "${common[@]}" "${over[@]}" --log.dir "$WORK/a" > "$WORK/a.out" 2>&1 || { cat "$WORK/a.out"; fail "run A"; }
expect_in "$WORK/a.out" "data: block shuffle (auto: the training set's compressed data decodes to more than data.chunk_cache_mb = 0)"
expect_in "$WORK/a.out" "12 blocks of up to 8 rows"
pass "auto picks the block shuffle for a compressed file over the budget, and says why"

if FROST_FAULT_INJECT=rank=1,at=step:8,action=kill train -np 2 "$T" "${common[@]}" "${over[@]}" --log.dir "$WORK/b" \
     > "$WORK/b1.out" 2>&1; then fail "the killed run exited 0"; fi
train -np 2 "$T" "${common[@]}" "${over[@]}" --log.dir "$WORK/b" --resume auto > "$WORK/b2.out" 2>&1 \
  || { cat "$WORK/b2.out"; fail "resume"; }
expect_in "$WORK/b2.out" "resumed from"
cmp "$WORK/a/model.pt" "$WORK/b/model.pt" || fail "resumed model.pt differs from the uninterrupted run's"
"$PY" - "$WORK/a/metrics.jsonl" "$WORK/b/metrics.jsonl" <<'PY'
import json, sys
a = {r["step"]: r for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "train"}
b = {r["step"]: r for r in map(json.loads, open(sys.argv[2])) if r["kind"] == "train"}
assert sorted(a) == list(range(1, 21)) == sorted(b), (sorted(a), sorted(b))
for s in range(6, 21):
    assert a[s]["loss"] == b[s]["loss"], s
PY
pass "block shuffle: SIGKILL at step 8 (mid-epoch) + --resume auto == uninterrupted, bit for bit"

# The global permutation gives another model (the shuffle mode is in effect), and is obeyed
# with a warning for a file over the budget.
train -np 2 "$T" "${common[@]}" "${over[@]}" --data.shuffle_mode global --log.dir "$WORK/g" > "$WORK/g.out" 2>&1 \
  || { cat "$WORK/g.out"; fail "global run"; }
expect_in "$WORK/g.out" "data: global shuffle (data.shuffle_mode = global); the compressed data does not fit"
if cmp -s "$WORK/a/model.pt" "$WORK/g/model.pt"; then fail "block and global shuffle trained the same model"; fi
# The same file within the budget: auto keeps the global permutation.
train -np 2 "$T" "${common[@]}" --data.chunk_cache_mb 1 --log.dir "$WORK/f" > "$WORK/f.out" 2>&1 \
  || { cat "$WORK/f.out"; fail "run within the budget"; }
expect_in "$WORK/f.out" "data: global shuffle (auto: the training set's compressed data, if any, fits data.chunk_cache_mb = 1 decoded)"
cmp "$WORK/g/model.pt" "$WORK/f/model.pt" || fail "global shuffle depends on whether the data fits"
pass "global permutation kept for data that fits (and when asked for)"
