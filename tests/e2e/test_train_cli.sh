#!/usr/bin/env bash
# frost-train end to end: --help, config errors, a 2-rank run's outputs, model.init, and the
# refusal to overwrite a finished run.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
make_data "$WORK/train.h5" --n 96 --dim 8 --classes 3
make_data "$WORK/test.h5" --n 30 --dim 8 --classes 3 --seed 1
cat > "$WORK/run.ini" <<INI
[model]
backbone = mlp
mlp_hidden = 16,16
[data]
train = $WORK/train.h5
test = $WORK/test.h5
batch_size = 8
[train]
epochs = 2
threads = 1
[optim]
lr = 0.05
[log]
dir = $WORK/run
every = 2
INI

# --help comes from the option description: every key of docs/configuration.md is in it.
"$T" --help > "$WORK/help.txt"
for key in model.backbone data.batch_size train.strategy optim.lr dist.timeout_s log.dir; do
  expect_in "$WORK/help.txt" "--$key"
done
pass "--help lists the options"

# An unknown key: non-zero exit, the key and a suggestion.
if "$T" --config "$WORK/run.ini" --train.epoch 3 > "$WORK/out.txt" 2>&1; then fail "unknown key accepted"; fi
expect_in "$WORK/out.txt" "unknown option '--train.epoch'"
expect_in "$WORK/out.txt" "did you mean 'train.epochs'"
printf '[optim]\nlearning_rate = 0.1\n' > "$WORK/bad.ini"
if "$T" --config "$WORK/bad.ini" > "$WORK/out.txt" 2>&1; then fail "unknown INI key accepted"; fi
expect_in "$WORK/out.txt" "bad.ini': unknown key 'optim.learning_rate'"
# A binary file as --config, and an INI with a bad line: the file and the line are named, and
# the file's bytes are quoted escaped, never raw (no control bytes on the terminal).
printf '\x7fELF\x02\x01\x01\x00\x00\x1b[2J\n' > "$WORK/blob.ini"
printf '[data]\ntrain = x.h5\n\nthis is no option\n' > "$WORK/bad_line.ini"
for case in "blob.ini|line 1 is not 'key = value', '[section]' or a '#' comment: '\x7FELF\x02\x01\x01\x00\x00\x1B[2J'" \
            "bad_line.ini|line 4 is not 'key = value', '[section]' or a '#' comment: 'this is no option'"; do
  file=${case%%|*} expected=${case#*|}
  if "$T" --config "$WORK/$file" > "$WORK/out.txt" 2>&1; then fail "$file accepted as a config file"; fi
  expect_in "$WORK/out.txt" "frost-train: error: config file '$WORK/$file': $expected"
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$WORK/out.txt"; then
    cat -v "$WORK/out.txt" >&2
    fail "$file: raw control bytes in the message"
  fi
done
if "$T" --config "$WORK/run.ini" --optim.lr -1 > "$WORK/out.txt" 2>&1; then fail "negative lr accepted"; fi
expect_in "$WORK/out.txt" "optim.lr must be > 0"
if "$T" --config "$WORK/run.ini" --data.batch_size 0 > "$WORK/out.txt" 2>&1; then fail "zero batch accepted"; fi
expect_in "$WORK/out.txt" "data.batch_size must be >= 1"
[[ ! -e "$WORK/run" ]] || fail "a rejected config left a run directory"
pass "config errors"

# A 2-rank run: table on stdout, metrics.jsonl with the documented keys, config.ini, model.pt.
train -np 2 "$T" --config "$WORK/run.ini" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "2-rank run failed"; }
expect_in "$WORK/out.txt" "| epoch | strategy | train loss | test accuracy | samples/s | MB/step |"
for f in config.ini metrics.jsonl model.pt; do [[ -s "$WORK/run/$f" ]] || fail "missing $f"; done
"$PY" - "$WORK/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["kind"] == "train"]
ev = [r for r in rows if r["kind"] == "eval"]
assert len(train) == 2 * 6, len(train)            # 96 samples / (2 ranks x 8) = 6 steps x 2 epochs
for r in train:
    for k in ("strategy", "epoch", "step", "loss", "lr", "samples_per_s", "comm_bytes",
              "step_ms", "data_wait_ms", "h2d_ms", "forward_ms", "backward_ms", "comm_wait_ms",
              "allreduce_ms", "optimizer_ms", "timing"):
        assert k in r, (k, r)
    # the CPU: host clocks, no copy to a device
    assert r["timing"] == "host" and r["h2d_ms"] == 0, r
    assert list(r) == sorted(r), ("keys not in alphabetical order", list(r))
    # full strategy, MLP 8-16-16 + head 16x3: every trainable float32 parameter is all-reduced
    assert r["comm_bytes"] == 4 * (8*16+16 + 16*16+16 + 16*3+3), r["comm_bytes"]
assert [r["step"] for r in train] == list(range(1, 13))
epochs = [r for r in rows if r["kind"] == "epoch"]
assert len(epochs) == 2, epochs
for r in epochs:  # GPU only
    assert "gpu_mem_peak_mib" not in r and "gpu_mem_reserved_peak_mib" not in r, r
assert len(ev) == 2 and all(r["eval_samples"] == 30 for r in ev), ev
for r in ev:
    for k in ("epoch", "eval_accuracy", "eval_loss", "eval_samples"):
        assert k in r, (k, r)
PY
pass "2-rank run outputs"

# train.deterministic: on the CPU, kernels are deterministic already, so the switch must change
# no bit of the trained model (and the run must complete under LibTorch's deterministic mode).
train -np 2 "$T" --config "$WORK/run.ini" --train.deterministic true --log.dir "$WORK/run-det" \
  > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "train.deterministic run failed"; }
grep -q "^deterministic = true" "$WORK/run-det/config.ini" || fail "config.ini lacks deterministic = true"
cmp -s "$WORK/run/model.pt" "$WORK/run-det/model.pt" || fail "train.deterministic changed the CPU model"
pass "train.deterministic"

# A finished run is not overwritten (model.pt untouched), unless log.overwrite is given.
before=$(md5sum < "$WORK/run/model.pt")
if train -np 2 "$T" --config "$WORK/run.ini" > "$WORK/out.txt" 2>&1; then fail "finished run overwritten"; fi
expect_in "$WORK/out.txt" "already holds a finished run"
[[ "$(md5sum < "$WORK/run/model.pt")" == "$before" ]] || fail "model.pt changed"
pass "finished run refused"

# model.init: head strategy from the first run's backbone with a different class count.
make_data "$WORK/train5.h5" --n 40 --dim 8 --classes 5 --seed 3
train -np 2 "$T" --config "$WORK/run.ini" --model.init "$WORK/run/model.pt" --data.train "$WORK/train5.h5" \
  --data.test "" --train.strategy head --log.dir "$WORK/run-head" > "$WORK/out.txt" 2> "$WORK/err.txt" \
  || { cat "$WORK/err.txt"; fail "head run from model.init failed"; }
expect_in "$WORK/err.txt" "head is new (class count differs)"
"$PY" - "$WORK/run-head/metrics.jsonl" <<'PY'
import json, sys
train = [r for r in (json.loads(l) for l in open(sys.argv[1])) if r["kind"] == "train"]
assert all(r["comm_bytes"] == 4 * (16 * 5 + 5) for r in train), train[0]   # head only
assert all(r["strategy"] == "head" for r in train)
PY
# A model.init of another architecture is refused, naming the key.
if train -np 2 "$T" --config "$WORK/run.ini" --model.init "$WORK/run/model.pt" --model.mlp_hidden 16,32 \
     --log.dir "$WORK/run-bad" > "$WORK/out.txt" 2>&1; then fail "mismatched model.init accepted"; fi
expect_in "$WORK/out.txt" "backbone.layers.2.weight' has shape"
pass "model.init"

# lp-ft and partial through frost-train (2 ranks, MLP 8-16-16 + head 16x3; its blocks are
# layers.0 and layers.2): the bytes all-reduced per step follow what trains, rank 0 logs the
# switch, the records name lp-ft's phase, and a bad unfreeze_last / pattern is one clear error.
for k in train.lp_epochs train.lp_ft_optimizer_state train.unfreeze_last train.trainable train.unfreeze_every; do
  expect_in "$WORK/help.txt" "--$k"
done
train -np 2 "$T" --config "$WORK/run.ini" --train.strategy lp-ft --train.epochs 3 --train.lp_epochs 1 \
  --log.dir "$WORK/run-lpft" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "lp-ft run failed"; }
expect_in "$WORK/err.txt" "epoch 2: lp-ft:head -> lp-ft:full: trainable parameters 51 -> 467, all-reduced per step 204 -> 1868 bytes"
train -np 2 "$T" --config "$WORK/run.ini" --train.strategy partial --train.unfreeze_last 1 \
  --train.unfreeze_every 2 --train.epochs 3 --log.dir "$WORK/run-partial" > "$WORK/out.txt" 2> "$WORK/err.txt" \
  || { cat "$WORK/err.txt"; fail "partial run failed"; }
expect_in "$WORK/err.txt" "epoch 3: partial -> partial: trainable parameters 323 -> 467"
"$PY" - "$WORK/run-lpft/metrics.jsonl" "$WORK/run-partial/metrics.jsonl" <<'PY'
import json, sys
head, l2, everything = 16*3+3, 16*16+16 + 16*3+3, 8*16+16 + 16*16+16 + 16*3+3
for path, per_epoch, phases in ((sys.argv[1], [head, everything, everything], ["lp-ft:head", "lp-ft:full", "lp-ft:full"]),
                                (sys.argv[2], [l2, l2, everything], ["partial"] * 3)):
    rows = [json.loads(l) for l in open(path)]
    for r in rows:
        if r["kind"] == "train":
            assert r["comm_bytes"] == 4 * per_epoch[r["epoch"] - 1], (path, r)
            assert r["strategy"] == phases[r["epoch"] - 1], (path, r)
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [r["trainable_params"] for r in epochs] == per_epoch, (path, epochs)
    assert [r["strategy"] for r in epochs] == phases, (path, epochs)
PY
if train -np 2 "$T" --config "$WORK/run.ini" --train.strategy partial --train.unfreeze_last 3 \
     --log.dir "$WORK/run-bad" > "$WORK/out.txt" 2>&1; then fail "unfreeze_last beyond the blocks accepted"; fi
expect_in "$WORK/out.txt" "config key train.unfreeze_last = 3 is larger than the 2 blocks of the backbone"
if train -np 2 "$T" --config "$WORK/run.ini" --train.strategy partial --train.trainable 'backbone.layers.9.*' \
     --log.dir "$WORK/run-bad" > "$WORK/out.txt" 2>&1; then fail "a pattern matching nothing accepted"; fi
expect_in "$WORK/out.txt" "pattern 'backbone.layers.9.*' matches no parameter of the model"
pass "lp-ft and partial"
