#!/usr/bin/env bash
# End-to-end test of `frost-prep text` on a small hand-made CSV and vocabulary (no assets):
#   1. it writes train.h5 / test.h5 that h5py reads back: int32 token ids [N, max_len] padded
#      with [PAD], uint8 attention mask, int64 labels, the text attributes;
#   2. a malformed CSV, a missing column, a vocabulary without [SEP] and an option of the other
#      subcommand make it exit 1 with "frost-prep: error:" naming the cause, and write nothing.
# Environment: FROST_BIN (build dir holding frost-prep), PYTHON (default /usr/bin/python3, which
# has h5py).
set -euo pipefail

: "${FROST_BIN:?set FROST_BIN to the build directory that holds frost-prep}"
PREP="$FROST_BIN/frost-prep"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PREP" ]] || { echo "FAIL: $PREP is not an executable (build the frost-prep target)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frost-e2e-prep-text.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' good bad film very '##s' , not > "$WORK/vocab.txt"
{
  printf 'label,text\r\n'
  for i in $(seq 1 10); do
    printf 'pos,"Good film, very good"\r\nneg,"not good ""films"""\r\n'
  done
  printf 'neg,"bad\r\nfilm"\r\n'
} > "$WORK/data.csv"

# ---- 1. a good run ------------------------------------------------------------------------
"$PREP" text --csv "$WORK/data.csv" --vocab "$WORK/vocab.txt" --out "$WORK/out" --max-len 10 \
  --test-frac 0.2 --seed 3 > "$WORK/stdout"
grep -q "train.h5: 17 samples (neg: 9, pos: 8)" "$WORK/stdout" || fail "summary: $(cat "$WORK/stdout")"
grep -q "test.h5: 4 samples (neg: 2, pos: 2)" "$WORK/stdout" || fail "summary: $(cat "$WORK/stdout")"
"$PYTHON" - "$WORK/out" <<'EOF'
import json, sys
import h5py
import numpy as np

out = sys.argv[1]
rows = {}
for split, n in (("train", 17), ("test", 4)):
    with h5py.File(f"{out}/{split}.h5", "r") as f:
        x, m, y = f["inputs"][:], f["attention_mask"][:], f["labels"][:]
        assert x.shape == (n, 10) and x.dtype == np.int32, (split, x.shape, x.dtype)
        assert m.shape == (n, 10) and m.dtype == np.uint8, (split, m.shape, m.dtype)
        assert y.shape == (n,) and y.dtype == np.int64, (split, y.shape, y.dtype)
        a = f.attrs
        assert a["input_kind"] == "tokens" and int(a["num_classes"]) == 2, dict(a)
        assert list(a["max_len"]) == [10] and list(a["vocab_size"]) == [11], dict(a)
        assert json.loads(a["label_values"]) == ["neg", "pos"], a["label_values"]
        assert "class_ids" not in a
        assert ((x != 0) == (m == 1)).all(), (split, x, m)  # [PAD] = 0 exactly where mask = 0
        for ids, mask, label in zip(x, m, y):
            rows.setdefault(tuple(int(t) for t in ids[mask == 1]), set()).add(int(label))
# [CLS] good film , very good [SEP] -> pos; [CLS] not good " film ##s " [SEP] has [UNK] quotes
assert rows[(2, 4, 6, 9, 7, 4, 3)] == {1}, rows
assert rows[(2, 10, 4, 1, 6, 8, 1, 3)] == {0}, rows
assert rows[(2, 5, 6, 3)] == {0}, rows
print("e2e prep text: files OK")
EOF
[[ -z "$(find "$WORK/out" -name '*.tmp.*')" ]] || fail "temporary files left in $WORK/out"

# ---- 2. failures: exit 1, the cause named, nothing written --------------------------------
expect_failure() {  # expect_failure NAME TEXT ARGS...: must fail with TEXT on stderr
  local name="$1" text="$2" rc=0
  shift 2
  "$PREP" text --out "$WORK/out-$name" "$@" > /dev/null 2> "$WORK/$name.err" || rc=$?
  [[ $rc -eq 1 ]] || fail "$name: exit status $rc, expected 1"
  grep -q "^frost-prep: error: " "$WORK/$name.err" || fail "$name: no error line: $(cat "$WORK/$name.err")"
  grep -qF -- "$text" "$WORK/$name.err" || fail "$name: stderr lacks '$text': $(cat "$WORK/$name.err")"
  [[ ! -e "$WORK/out-$name" ]] || fail "$name: $WORK/out-$name was created"
  echo "e2e prep text: $name -> $(head -c 200 "$WORK/$name.err")"
}
printf 'label,text\n1,fine\n0,a "bad" quote\n' > "$WORK/quote.csv"
expect_failure quote "$WORK/quote.csv: line 3: a quote inside an unquoted field" \
  --csv "$WORK/quote.csv" --vocab "$WORK/vocab.txt"
printf 'label,body\n1,fine\n0,bad\n' > "$WORK/nocol.csv"
expect_failure nocol "the header has no 'text' column" --csv "$WORK/nocol.csv" --vocab "$WORK/vocab.txt"
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' good > "$WORK/nosep.txt"
expect_failure nosep "$WORK/nosep.txt: the WordPiece vocabulary (4 tokens) has no [SEP] token" \
  --csv "$WORK/data.csv" --vocab "$WORK/nosep.txt"
expect_failure wrongopt "--classes is not an option of 'text'" \
  --csv "$WORK/data.csv" --vocab "$WORK/vocab.txt" --classes 0-4
expect_failure missing "--input, --vocab and --out are required" --csv "$WORK/data.csv"
# An abbreviated option is an error, not a guess ("--max" is not taken for "--max-len").
expect_failure prefix "unrecognised option '--max'" \
  --csv "$WORK/data.csv" --vocab "$WORK/vocab.txt" --max 8
"$PREP" --help > "$WORK/help.txt"  # to a file: grep -q would close the pipe early (SIGPIPE)
for opt in --test-frac --input --format --text-field --label-field --pair-field --lower-case; do
  grep -q -- "$opt" "$WORK/help.txt" || fail "--help does not list $opt"
done

echo "e2e prep text: PASS"
