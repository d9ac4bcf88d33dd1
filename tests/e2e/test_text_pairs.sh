#!/usr/bin/env bash
# Sentence pairs from JSONL to a trained model: frost-prep text converts a JSONL file of
# {"label", "text", "text_pair"} objects (case decided from the vocabulary and logged), writing
# /token_type_ids; frost-train trains a small BERT on it on 1 and 2 ranks, with evaluation.
# The token types reach the model: the same file with the types of each row swapped (the
# first segment 1, the second 0) gives other losses from the first step, while the same file
# twice gives the same losses bit for bit. A bad JSONL line fails with one error naming the
# file and line, and leaves no output.
source "$(dirname "$0")/lib.sh"
PREP="$FROST_BIN/frost-prep"

# A vocabulary of lower-case words (so it is inferred uncased) and 96 pairs over 3 labels.
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' > "$WORK/vocab.txt"
for i in $(seq 0 39); do echo "w$i"; done >> "$WORK/vocab.txt"
"$PY" - "$WORK/pairs.jsonl" <<'EOF'
import json, random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for i in range(96):
        a = " ".join(f"W{rng.randrange(40)}" for _ in range(rng.randrange(1, 8)))
        b = " ".join(f"w{rng.randrange(40)}" for _ in range(rng.randrange(1, 12)))
        f.write(json.dumps({"id": i, "label": ["neg", "neu", "pos"][i % 3], "text": a,
                            "text_pair": b}) + "\n")
        if i == 10:
            f.write("\n")  # blank lines are skipped
EOF
"$PREP" text --input "$WORK/pairs.jsonl" --vocab "$WORK/vocab.txt" --out "$WORK/data" \
  --max-len 12 --test-frac 0.25 --seed 1 > "$WORK/prep.txt"
expect_in "$WORK/prep.txt" "96 rows of $WORK/pairs.jsonl (jsonl, sentence pairs), labels 'neg' -> 0, 'neu' -> 1, 'pos' -> 2"
expect_in "$WORK/prep.txt" "lower-cased: inferred from the vocabulary: 0 of 40 whole-word tokens"
expect_in "$WORK/prep.txt" "train.h5: 72 samples"
"$PY" - "$WORK/data/train.h5" <<'EOF'
import sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    ids, mask, types = f["inputs"][:], f["attention_mask"][:], f["token_type_ids"][:]
    assert types.dtype == np.uint8 and types.shape == ids.shape, (types.dtype, types.shape)
    assert int(f.attrs["lower_case"][0]) == 1
for r in range(len(ids)):
    n = int(mask[r].sum())
    seps = [c for c in range(n) if ids[r, c] == 3]
    assert ids[r, 0] == 2 and len(seps) == 2 and seps[1] == n - 1, ids[r]
    want = np.zeros(len(ids[r]), np.uint8)
    want[seps[0] + 1:n] = 1  # b and its [SEP]
    assert (types[r] == want).all(), (ids[r], types[r])
    # "W3" was lower-cased to w3: every real token is in the vocabulary
    assert (ids[r, :n] != 1).all(), ids[r]
print("pairs layout ok:", len(ids), "rows")
EOF
pass "frost-prep text: JSONL pairs with token_type_ids, case inferred and logged"

# The same data with the types swapped inside each row (still one run of 1s: [CLS] a [SEP]).
cp -r "$WORK/data" "$WORK/swapped"
"$PY" - "$WORK/swapped/train.h5" <<'EOF'
import sys
import h5py
with h5py.File(sys.argv[1], "r+") as f:
    mask, types = f["attention_mask"][:], f["token_type_ids"][:]
    f["token_type_ids"][...] = (1 - types) * mask
EOF

cat > "$WORK/bert.json" <<'JSON'
{"model_type": "bert", "vocab_size": 45, "hidden_size": 32, "num_hidden_layers": 1,
 "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
 "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
 "initializer_range": 0.02, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
JSON
common=(--data.batch_size 8 --train.threads 1 --log.level warn --log.every 1
  --model.export_format none --model.backbone bert --model.hf_config "$WORK/bert.json"
  --optim.lr 1e-3)
run() {  # run NAME NP DATA_DIR [ARGS...]
  local name=$1 np=$2 dir=$3
  shift 3
  train -np "$np" "$FROST_BIN/frost-train" "${common[@]}" --data.train "$dir/train.h5" \
    --log.dir "$WORK/run-$name" "$@" > "$WORK/run-$name.log" 2>&1 ||
    { cat "$WORK/run-$name.log" >&2; fail "frost-train $name failed"; }
}
losses() {
  "$PY" -c 'import json, sys
print(" ".join(repr(r["loss"]) for r in map(json.loads, open(sys.argv[1])) if r.get("kind") == "train"))' \
    "$WORK/run-$1/metrics.jsonl"
}
run a 1 "$WORK/data" --data.test "" --train.max_steps 4
run b 1 "$WORK/data" --data.test "" --train.max_steps 4
run swapped 1 "$WORK/swapped" --data.test "" --train.max_steps 4
la=$(losses a) lb=$(losses b) ls=$(losses swapped)
echo "losses: pairs [$la], again [$lb], types swapped [$ls]"
[[ $(wc -w <<< "$la") -eq 4 ]] || fail "expected 4 train records, got [$la]"
[[ $la == "$lb" ]] || fail "the same run twice gave other losses: [$la] vs [$lb]"
[[ ${la%% *} != "${ls%% *}" ]] || fail "swapping the token types did not change the first loss: $la / $ls"
pass "token types reach the model (swapped types change the loss; the same run repeats exactly)"

run two 2 "$WORK/data" --data.test "$WORK/data/test.h5" --train.epochs 1
grep -q '"kind":"eval"' "$WORK/run-two/metrics.jsonl" || fail "the 2-rank run has no eval record"
pass "2 ranks train and evaluate on sentence pairs"

# A bad line: one error naming the file and line; nothing written.
printf '%s\n' '{"label": "a", "text": "w1", "text_pair": "w2"}' '' \
  '{"label": "b", "text": "w1", "text_pair": 3}' > "$WORK/bad.jsonl"
rc=0
"$PREP" text --input "$WORK/bad.jsonl" --vocab "$WORK/vocab.txt" --out "$WORK/bad" \
  > /dev/null 2> "$WORK/bad.err" || rc=$?
(( rc == 1 )) || fail "bad JSONL: exit $rc, expected 1"
(( $(wc -l < "$WORK/bad.err") == 1 )) || { cat "$WORK/bad.err" >&2; fail "expected one error line"; }
expect_in "$WORK/bad.err" "frost-prep: error: $WORK/bad.jsonl: line 3: \"text_pair\" is a JSON number, not a string"
[[ ! -e $WORK/bad ]] || fail "a failed conversion left $WORK/bad"
pass "a bad JSONL line is named by file and line"
