#!/usr/bin/env bash
# frost-prep text with RoBERTa's byte-level BPE, against Hugging Face's ids: the tiny vocabulary
# of tests/fixtures/bpe_tiny and the cases of tests/fixtures/bpe_cases.jsonl (make_bpe_fixture.py,
# tokenizers 0.23.3):
#   1. a JSONL of the fixture's texts (--vocab vocab.json, merges.txt found beside it,
#      --max-len 16) writes exactly Hugging Face's ids, padded with <pad> = 1, the mask 1 on
#      them, the tokenizer attributes; the same from tokenizer.json and from the model folder;
#   2. the fixture's sentence pairs (a CSV with a text_pair column) write <s> a </s></s> b </s>
#      as Hugging Face truncates them (longest_first), and no /token_type_ids;
#   3. frost-train fine-tunes a tiny BERT with RoBERTa's one token type and pad id 1 on the
#      pairs (files without /token_type_ids) for two steps, and refuses them for an encoder
#      with pad_token_id 0 (another model's ids);
#   4. a vocab.json without merges.txt, a malformed merges line and a vocab.json without <pad>
#      exit 1 with one error line naming the file (and line), and write nothing.
source "$(dirname "$0")/lib.sh"
PREP="$FROST_BIN/frost-prep"
TINY="$FROST_SRC/tests/fixtures/bpe_tiny"
CASES="$FROST_SRC/tests/fixtures/bpe_cases.jsonl"

# ---- 1. single texts ------------------------------------------------------------------------
"$PY" - "$CASES" "$WORK" <<'PY'
import csv, json, sys
cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
work = sys.argv[2]
plain = lambda c: not c["add_prefix_space"] and not c["lower_case"]
singles = [c for c in cases if plain(c) and c["max_len"] == 16 and "pair" not in c
           and c["text"].strip() and "\r" not in c["text"]]
pairs = [c for c in cases if plain(c) and c["max_len"] == 16 and "pair" in c]
with open(f"{work}/texts.jsonl", "w", encoding="utf-8") as f:
    for i, c in enumerate(singles):
        f.write(json.dumps({"label": i % 2, "text": c["text"]}, ensure_ascii=False) + "\n")
with open(f"{work}/pairs.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["label", "text", "text_pair"])
    for i, c in enumerate(pairs):
        w.writerow([i % 2, c["text"], c["pair"]])
json.dump({"texts": [c["ids"] for c in singles], "pairs": [c["ids"] for c in pairs]},
          open(f"{work}/want.json", "w"))
print(len(singles), "texts,", len(pairs), "pairs")
PY
"$PREP" text --input "$WORK/texts.jsonl" --vocab "$TINY/vocab.json" --out "$WORK/texts" \
  --max-len 16 --test-frac 0.25 > "$WORK/texts.txt"
expect_in "$WORK/texts.txt" "cased (text kept as written): RoBERTa's default"
expect_in "$WORK/texts.txt" "byte-level BPE $TINY/vocab.json + $TINY/merges.txt (658 tokens, pad id 1, add_prefix_space false)"
"$PREP" text --input "$WORK/texts.jsonl" --vocab "$TINY/tokenizer.json" --out "$WORK/texts-json" \
  --max-len 16 --test-frac 0.25 > /dev/null
"$PREP" text --input "$WORK/texts.jsonl" --vocab "$TINY" --out "$WORK/texts-dir" \
  --max-len 16 --test-frac 0.25 > /dev/null
check() {  # check OUT_DIR KIND: the rows of train.h5 + test.h5 are the fixture's ids
  "$PY" - "$1" "$2" "$WORK/want.json" <<'PY'
import json, sys
from collections import Counter
import h5py, numpy as np
out, kind, want = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))[sys.argv[2]]
got = []
for split in ("train", "test"):
    with h5py.File(f"{out}/{split}.h5", "r") as f:
        x, m = f["inputs"][:], f["attention_mask"][:]
        assert "token_type_ids" not in f, f"{split}: RoBERTa rows have no token types"
        a = f.attrs
        tok = a["tokenizer"]
        tok = tok.decode() if isinstance(tok, bytes) else str(tok)
        assert tok == "byte_level_bpe", dict(a)
        assert list(a["pad_id"]) == [1] and list(a["vocab_size"]) == [658], dict(a)
        assert list(a["lower_case"]) == [0] and list(a["add_prefix_space"]) == [0], dict(a)
        assert x.shape[1] == 16 and x.dtype == np.int32, x.shape
        for ids, mask in zip(x, m):
            n = int(mask.sum())
            assert (mask[:n] == 1).all() and (ids[n:] == 1).all(), (ids, mask)  # <pad> = 1
            got.append(tuple(int(t) for t in ids[:n]))
assert len(got) == len(want) >= 10, (len(got), len(want))
assert Counter(got) == Counter(tuple(w) for w in want), (sorted(got), sorted(map(tuple, want)))
print(f"{out}: {len(got)} rows = Hugging Face's ids")
PY
}
check "$WORK/texts" texts
check "$WORK/texts-json" texts
check "$WORK/texts-dir" texts
"$PY" -c 'import h5py, sys, numpy as np
a, b = (h5py.File(f"{d}/train.h5", "r")["inputs"][:] for d in sys.argv[1:])
assert np.array_equal(a, b)' "$WORK/texts" "$WORK/texts-json" || fail "tokenizer.json gave other rows than vocab.json"
pass "texts: Hugging Face's ids from vocab.json + merges.txt, tokenizer.json and the model folder"

# ---- 2. sentence pairs ----------------------------------------------------------------------
"$PREP" text --input "$WORK/pairs.csv" --vocab "$TINY/vocab.json" --merges "$TINY/merges.txt" \
  --out "$WORK/pairs" --max-len 16 --test-frac 0.2 > "$WORK/pairs.txt"
expect_in "$WORK/pairs.txt" "(csv, sentence pairs)"
check "$WORK/pairs" pairs
pass "pairs: <s> a </s></s> b </s>, longest_first as Hugging Face, no token_type_ids"

# ---- 3. the pairs train (one token type, pad id 1) -------------------------------------------
cat > "$WORK/bert.json" <<'JSON'
{"model_type": "bert", "vocab_size": 658, "hidden_size": 16, "num_hidden_layers": 1,
 "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
 "max_position_embeddings": 32, "type_vocab_size": 1, "pad_token_id": 1,
 "layer_norm_eps": 1e-5, "initializer_range": 0.02, "hidden_dropout_prob": 0.0,
 "attention_probs_dropout_prob": 0.0}
JSON
train -np 1 "$FROST_BIN/frost-train" --model.backbone bert --model.hf_config "$WORK/bert.json" \
  --model.export_format none --data.train "$WORK/pairs/train.h5" --data.test "" \
  --data.batch_size 4 --train.max_steps 2 --train.threads 1 --log.level warn --log.every 1 \
  --log.dir "$WORK/run" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; fail "frost-train on BPE pairs failed"; }
"$PY" -c 'import json, math, sys
r = [json.loads(l) for l in open(sys.argv[1])]
losses = [x["loss"] for x in r if x.get("kind") == "train"]
assert len(losses) == 2 and all(math.isfinite(l) for l in losses), losses' "$WORK/run/metrics.jsonl" ||
  fail "expected 2 finite train losses in $WORK/run/metrics.jsonl"
pass "a BERT with one token type and pad id 1 trains on the BPE pairs (no /token_type_ids)"
# The same file with an encoder that pads with 0 (BERT's WordPiece): another model's ids.
sed 's/"pad_token_id": 1/"pad_token_id": 0/' "$WORK/bert.json" > "$WORK/bert-pad0.json"
if train -np 1 "$FROST_BIN/frost-train" --model.backbone bert --model.hf_config "$WORK/bert-pad0.json" \
  --model.export_format none --data.train "$WORK/pairs/train.h5" --data.test "" \
  --data.batch_size 4 --train.max_steps 2 --train.threads 1 --log.level warn \
  --log.dir "$WORK/run-pad0" > "$WORK/run-pad0.log" 2>&1; then
  fail "frost-train accepted BPE data (pad id 1) for an encoder with pad_token_id 0"
fi
expect_in "$WORK/run-pad0.log" "data.train $WORK/pairs/train.h5 was tokenized with pad id 1 (byte_level_bpe), but the bert encoder's config.json has pad_token_id = 0"
pass "an encoder whose pad_token_id differs from the file's pad_id is refused, naming both"

# ---- 4. bad tokenizer files -----------------------------------------------------------------
bad() {  # bad NAME EXPECTED_TEXT PREP_ARGS...
  local name=$1 want=$2 rc=0
  shift 2
  "$PREP" text --input "$WORK/texts.jsonl" --out "$WORK/bad-$name" "$@" > /dev/null \
    2> "$WORK/bad-$name.err" || rc=$?
  (( rc == 1 )) || fail "$name: exit $rc, expected 1"
  (( $(wc -l < "$WORK/bad-$name.err") == 1 )) || { cat "$WORK/bad-$name.err" >&2; fail "$name: expected one error line"; }
  expect_in "$WORK/bad-$name.err" "frost-prep: error: $want"
  [[ ! -e $WORK/bad-$name ]] || fail "$name: a failed conversion left $WORK/bad-$name"
}
mkdir "$WORK/nomerges"
cp "$TINY/vocab.json" "$WORK/nomerges/"
bad nomerges "$WORK/nomerges/vocab.json: a byte-level BPE vocab.json needs its merges file" \
  --vocab "$WORK/nomerges/vocab.json"
{ head -5 "$TINY/merges.txt"; echo "Ġt"; tail -n +6 "$TINY/merges.txt"; } > "$WORK/merges-bad.txt"
bad merges "$WORK/merges-bad.txt: line 6: 'Ġt' is not a merge" \
  --vocab "$TINY/vocab.json" --merges "$WORK/merges-bad.txt"
"$PY" -c 'import json, sys
v = json.load(open(sys.argv[1])); del v["<pad>"]; json.dump(v, open(sys.argv[2], "w"))' \
  "$TINY/vocab.json" "$WORK/nomerges/nopad.json"
bad nopad "$WORK/nomerges/nopad.json: the BPE vocabulary (657 tokens) has no <pad> token" \
  --vocab "$WORK/nomerges/nopad.json" --merges "$TINY/merges.txt"
pass "missing merges, a malformed merges line and a vocabulary without <pad> are named"
