#!/usr/bin/env bash
# frost-prep synthetic end to end: an image file (with its raw copy) and a token file that
# frost-train trains on, the same bytes for the same seed, --help, and bad arguments: exit 1 with
# one error line naming the option, and no output folder left behind.
source "$(dirname "$0")/lib.sh"
PREP="$FROST_BIN/frost-prep"

"$PREP" --help > "$WORK/help.txt"
for opt in "frost-prep synthetic" --kind --rows --shape --seq-len --min-len --vocab-size --num-classes --raw; do
  expect_in "$WORK/help.txt" "$opt"
done
pass "--help describes synthetic"

# 1. Images with a raw copy; the same seed again gives the same bytes.
"$PREP" synthetic --kind image --shape 3,12,10 --rows 70 --num-classes 3 --seed 5 --raw --out "$WORK/img" > "$WORK/img.txt"
expect_in "$WORK/img.txt" "train.h5: 70 samples of [3, 12, 10], 3 classes"
expect_in "$WORK/img.txt" "raw copy: $WORK/img/train.h5.raw.json"
for f in train.h5 train.h5.inputs.bin train.h5.labels.bin train.h5.raw.json; do
  [[ -f $WORK/img/$f ]] || fail "no $WORK/img/$f"
done
(( $(stat -c %s "$WORK/img/train.h5.inputs.bin") == 70 * 3 * 12 * 10 )) || fail "inputs.bin has the wrong size"
"$PREP" synthetic --kind image --shape 3,12,10 --rows 70 --num-classes 3 --seed 5 --raw --out "$WORK/img2" > /dev/null
cmp -s "$WORK/img/train.h5.inputs.bin" "$WORK/img2/train.h5.inputs.bin" || fail "the same seed gave other bytes"
pass "images + raw copy, deterministic"

# 2. Frost reads both kinds: two training steps each on the CPU.
"$PREP" synthetic --kind tokens --seq-len 24 --rows 40 --vocab-size 1500 --out "$WORK/tok" > "$WORK/tok.txt"
expect_in "$WORK/tok.txt" "train.h5: 40 samples of [24], 2 classes"
cat > "$WORK/bert.json" <<'JSON'
{"model_type": "bert", "vocab_size": 1500, "hidden_size": 32, "num_hidden_layers": 1,
 "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
 "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
 "initializer_range": 0.02, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
JSON
common=(--data.test "" --data.batch_size 8 --train.max_steps 2 --train.threads 1 --log.level warn
  --model.export_format none)
train -np 1 "$FROST_BIN/frost-train" "${common[@]}" --data.train "$WORK/img/train.h5" \
  --model.backbone resnet18 --model.width 8 --model.small_input true --log.dir "$WORK/run-img" > "$WORK/run-img.log" 2>&1 ||
  { cat "$WORK/run-img.log" >&2; fail "frost-train on the synthetic images failed"; }
train -np 1 "$FROST_BIN/frost-train" "${common[@]}" --data.train "$WORK/tok/train.h5" \
  --model.backbone bert --model.hf_config "$WORK/bert.json" --log.dir "$WORK/run-tok" > "$WORK/run-tok.log" 2>&1 ||
  { cat "$WORK/run-tok.log" >&2; fail "frost-train on the synthetic tokens failed"; }
for r in img tok; do
  (( $(grep -c '"kind":"train"' "$WORK/run-$r/metrics.jsonl") == 2 )) || fail "run-$r: expected 2 train records"
done
pass "frost-train trains on synthetic images and tokens"

# 3. Bad arguments: exit 1, one line "frost-prep: error: ..." naming the option, nothing written.
bad() {  # bad EXPECTED ARGS...
  local want=$1 rc=0
  shift
  "$PREP" synthetic "$@" --out "$WORK/bad" > "$WORK/bad.out" 2> "$WORK/bad.err" || rc=$?
  (( rc == 1 )) || { cat "$WORK/bad.err" >&2; fail "'$*': exit $rc, expected 1"; }
  (( $(wc -l < "$WORK/bad.err") == 1 )) || { cat "$WORK/bad.err" >&2; fail "'$*': expected one error line"; }
  grep -q '^frost-prep: error: ' "$WORK/bad.err" || fail "'$*': no 'frost-prep: error:' line"
  expect_in "$WORK/bad.err" "$want"
  [[ ! -e $WORK/bad ]] || fail "'$*' left $WORK/bad behind"
}
bad "--rows must be >= 1, got 0" --kind image --shape 3,4,4 --rows 0
bad "--shape '3,x,4' is not a list of positive integers" --kind image --shape 3,x,4 --rows 4
bad "--shape must be C,H,W" --kind image --shape 3,4 --rows 4
bad "--kind image needs --shape C,H,W" --kind image --rows 4
bad "--kind 'audio' is not one of: image | tokens" --kind audio --rows 4
bad "--seq-len must be in [2, 65536]" --kind tokens --seq-len 1 --rows 4
bad "--seq-len, --min-len and --vocab-size are for --kind tokens" --kind image --shape 3,4,4 --seq-len 8 --rows 4
bad "--shape is for --kind image" --kind tokens --shape 3,4,4 --rows 4
bad "--kind, --rows and --out are required" --kind tokens
bad "--classes is not an option of 'synthetic'" --kind tokens --rows 4 --classes 0-4
pass "bad arguments: one error line naming the option, nothing written"
