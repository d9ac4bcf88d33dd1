#!/usr/bin/env bash
# RoBERTa and DistilBERT checkpoints in frost-train (Note [Encoder variants] in
# src/frost/models/bert.cpp): the tiny parity checkpoints of tests/fixtures (written by
# make_encoder_parity.py with transformers) train for two steps with a frozen backbone
# (train.strategy = head: only the head's parameters train) and with everything training
# (full), on 1 and 2 ranks (RoBERTa exported as RobertaForSequenceClassification, DistilBERT
# not); a RobertaForSequenceClassification-style file ("roberta." prefix,
# no pooler, a classifier) loads with model.weights_prefix = roberta.; sentence pairs with
# token types are refused by both, naming the variant; RoBERTa refuses data padded with
# another id than its pad_token_id (WordPiece [PAD] = 0).
source "$(dirname "$0")/lib.sh"
PREP="$FROST_BIN/frost-prep"
FIX="$FROST_SRC/tests/fixtures"

# A WordPiece vocabulary of 99 tokens (the tiny models' vocab_size) and 48 single texts.
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' > "$WORK/vocab.txt"
for i in $(seq 0 93); do echo "w$i"; done >> "$WORK/vocab.txt"
"$PY" - "$WORK/texts.jsonl" "$WORK/pairs.jsonl" <<'PYEOF'
import json, random, sys
rng = random.Random(3)
words = lambda n: " ".join(f"w{rng.randrange(94)}" for _ in range(n))
with open(sys.argv[1], "w") as f, open(sys.argv[2], "w") as g:
    for i in range(48):
        f.write(json.dumps({"label": ["neg", "pos"][i % 2], "text": words(rng.randrange(1, 10))}) + "\n")
        g.write(json.dumps({"label": ["neg", "pos"][i % 2], "text": words(3), "text_pair": words(2)}) + "\n")
PYEOF
"$PREP" text --input "$WORK/texts.jsonl" --vocab "$WORK/vocab.txt" --out "$WORK/data" \
  --max-len 12 --test-frac 0.25 --seed 1 > "$WORK/prep.txt"
"$PREP" text --input "$WORK/pairs.jsonl" --vocab "$WORK/vocab.txt" --out "$WORK/pairs" \
  --max-len 12 --test-frac 0.25 --seed 1 > "$WORK/prep-pairs.txt"
# RoBERTa pads with id 1 (the tiny config's pad_token_id, as roberta-base): the same texts
# through a vocabulary with [PAD] at id 1 (frost-train refuses data padded with another id).
{ printf '%s\n' '[UNK]' '[PAD]' '[CLS]' '[SEP]' '[MASK]'; tail -n +6 "$WORK/vocab.txt"; } > "$WORK/vocab-pad1.txt"
"$PREP" text --input "$WORK/texts.jsonl" --vocab "$WORK/vocab-pad1.txt" --out "$WORK/data-roberta" \
  --max-len 12 --test-frac 0.25 --seed 1 > "$WORK/prep-roberta.txt"
"$PREP" text --input "$WORK/pairs.jsonl" --vocab "$WORK/vocab-pad1.txt" --out "$WORK/pairs-roberta" \
  --max-len 12 --test-frac 0.25 --seed 1 > "$WORK/prep-pairs-roberta.txt"
data_of() { [[ $1 == roberta ]] && echo "$WORK/data-roberta" || echo "$WORK/data"; }

common=(--data.batch_size 8 --train.threads 1 --log.level info --log.every 1
  --train.max_steps 2 --model.backbone bert --optim.lr 1e-3)
run() {  # run NAME NP VARIANT [ARGS...]; WEIGHTS= another model.weights
  local name=$1 np=$2 variant=$3
  shift 3
  local data
  data=$(data_of "$variant")
  train -np "$np" "$FROST_BIN/frost-train" "${common[@]}" --data.train "$data/train.h5" \
    --data.test "$data/test.h5" --model.hf_config "$FIX/${variant}_tiny_config.json" \
    --model.weights "${WEIGHTS:-$FIX/${variant}_tiny_model.safetensors}" --log.dir "$WORK/run-$name" "$@" \
    > "$WORK/run-$name.log" 2>&1 || { cat "$WORK/run-$name.log" >&2; fail "frost-train $name failed"; }
  (( $(grep -c '"kind":"train"' "$WORK/run-$name/metrics.jsonl") == 2 )) ||
    fail "run-$name: expected 2 train records"
  [[ -f $WORK/run-$name/model.pt ]] || fail "run-$name: no model.pt"
}
trainable() {  # the run's trainable_params
  "$PY" -c 'import json, sys
print([r["trainable_params"] for r in map(json.loads, open(sys.argv[1])) if "trainable_params" in r][-1])' \
    "$WORK/run-$1/metrics.jsonl"
}
# Parameters (make_encoder_parity.py): RoBERTa 19178, DistilBERT 18090; the head 32 * 2 + 2.
declare -A params=([roberta]=19178 [distilbert]=18090) tensors=([roberta]=39 [distilbert]=36)
for v in roberta distilbert; do
  run "$v-head" 1 "$v" --train.strategy head
  run "$v-full" 2 "$v" --train.strategy full
  expect_in "$WORK/run-$v-full.log" "model.weights: ${tensors[$v]} backbone tensors loaded"
  [[ $(trainable "$v-head") == 66 ]] || fail "$v head: trainable_params $(trainable "$v-head"), expected 66"
  [[ $(trainable "$v-full") == $(( params[$v] + 66 )) ]] ||
    fail "$v full: trainable_params $(trainable "$v-full"), expected $(( params[$v] + 66 ))"
done
# model.export_format = auto: RoBERTa as RobertaForSequenceClassification, DistilBERT not at all.
expect_in "$WORK/run-roberta-full/config.json" '"RobertaForSequenceClassification"'
[[ ! -e $WORK/run-distilbert-full/model.safetensors ]] || fail "distilbert: exported"
pass "RoBERTa and DistilBERT checkpoints train with a frozen backbone (1 rank) and fully (2 ranks)"

# A RobertaForSequenceClassification-style file: roberta.* without the pooler, plus classifier.*.
"$PY" - "$FIX/roberta_tiny_model.safetensors" "$WORK/roberta_clf.safetensors" <<'PYEOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header, body = json.loads(data[8:8 + n]), data[8 + n:]
out, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
entries = [(k, v) for k, v in header.items() if k != "__metadata__" and not k.startswith("pooler.")]
entries.append(("classifier.out_proj.weight", {"dtype": "F32", "shape": [2, 32],
                                               "data_offsets": [0, 256]}))
for key, v in entries:
    blob = body[v["data_offsets"][0]:v["data_offsets"][1]] if not key.startswith("classifier.") else bytes(256)
    name = key if key.startswith("classifier.") else "roberta." + key
    out[name] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
text = json.dumps(out).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
PYEOF
WEIGHTS="$WORK/roberta_clf.safetensors" run roberta-prefixed 1 roberta --train.strategy full \
  --model.weights_prefix roberta.
expect_in "$WORK/run-roberta-prefixed.log" "has no pooler.dense.weight (2 tensors"
expect_in "$WORK/run-roberta-prefixed.log" "model.weights: 37 backbone tensors loaded"
# Without the prefix: one error naming the keys and the prefix hint, no run.
rc=0
train -np 1 "$FROST_BIN/frost-train" "${common[@]}" --data.train "$WORK/data-roberta/train.h5" \
  --model.hf_config "$FIX/roberta_tiny_config.json" --model.weights "$WORK/roberta_clf.safetensors" \
  --log.dir "$WORK/run-noprefix" > "$WORK/noprefix.log" 2>&1 || rc=$?
(( rc != 0 )) || fail "a prefixed file without model.weights_prefix trained"
expect_in "$WORK/noprefix.log" "roberta.encoder.layer.0.attention.self.query.weight"
expect_in "$WORK/noprefix.log" "prefix map 'roberta.' -> ''"
pass "a RobertaForSequenceClassification file loads with model.weights_prefix = roberta. (pooler fresh)"

# Sentence pairs (token types 1 in the second segment): refused by both, naming the variant.
for v in roberta distilbert; do
  rc=0
  pairs=$WORK/pairs
  [[ $v == roberta ]] && pairs=$WORK/pairs-roberta
  train -np 1 "$FROST_BIN/frost-train" "${common[@]}" --data.train "$pairs/train.h5" \
    --data.test "" --model.hf_config "$FIX/${v}_tiny_config.json" --log.dir "$WORK/run-pairs-$v" \
    > "$WORK/pairs-$v.log" 2>&1 || rc=$?
  (( rc != 0 )) || fail "$v trained on token types"
done
expect_in "$WORK/pairs-roberta.log" "RoBERTa has a single token type"
expect_in "$WORK/pairs-distilbert.log" "DistilBERT backbone: the model has no token type embeddings"
pass "token types refused by RoBERTa and DistilBERT"

# Data padded with BERT's [PAD] = 0 for RoBERTa (pad_token_id 1): another model's ids, refused
# before any step (Note [Padding id of a run]).
rc=0
train -np 1 "$FROST_BIN/frost-train" "${common[@]}" --data.train "$WORK/data/train.h5" \
  --data.test "" --model.hf_config "$FIX/roberta_tiny_config.json" \
  --model.weights "$FIX/roberta_tiny_model.safetensors" --log.dir "$WORK/run-pad0" \
  > "$WORK/pad0.log" 2>&1 || rc=$?
(( rc != 0 )) || fail "RoBERTa trained on data padded with id 0"
expect_in "$WORK/pad0.log" "data.train $WORK/data/train.h5 was tokenized with pad id 0 (wordpiece), but the roberta encoder's config.json has pad_token_id = 1"
[[ ! -e $WORK/run-pad0/metrics.jsonl ]] || ! grep -q '"kind":"train"' "$WORK/run-pad0/metrics.jsonl" ||
  fail "run-pad0: a step was taken"
pass "RoBERTa refuses data padded with another id"
