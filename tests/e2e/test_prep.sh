#!/usr/bin/env bash
# End-to-end test of frost-prep on the real Fashion-MNIST files:
#   1. --classes 0-4 writes train.h5 (30000 rows) and test.h5 (5000 rows) that h5py reads back
#      with labels in 0..4 and every schema attribute present;
#   2. corrupted inputs (truncated gzip, wrong magic, mixed-up counts, a missing file) make it
#      exit non-zero, name the bad file on stderr, and leave no output file behind.
# Environment: FROST_BIN (build dir holding frost-prep), FROST_FMNIST (default
# /usr/share/datasets/fashion-mnist), PYTHON (default /usr/bin/python3, which has h5py).
set -euo pipefail

: "${FROST_BIN:?set FROST_BIN to the build directory that holds frost-prep}"
PREP="$FROST_BIN/frost-prep"
SRC="${FROST_FMNIST:-/usr/share/datasets/fashion-mnist}"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x "$PREP" ]] || { echo "FAIL: $PREP is not an executable (build the frost-prep target)" >&2; exit 1; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [[ -f "$SRC/$f.gz" ]] || { echo "FAIL: missing $SRC/$f.gz (package dataset-fashion-mnist)" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frost-e2e-prep.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- 1. the real data -----------------------------------------------------------------------
"$PREP" fashion-mnist --src "$SRC" --out "$WORK/out" --classes 0-4 > "$WORK/stdout"
grep -q "train.h5: 30000 samples" "$WORK/stdout" || fail "summary lacks the train count: $(cat "$WORK/stdout")"
grep -q "test.h5: 5000 samples" "$WORK/stdout" || fail "summary lacks the test count: $(cat "$WORK/stdout")"

"$PYTHON" - "$WORK/out" <<'EOF'
import sys
import h5py
import numpy as np

out = sys.argv[1]
expected_rows = {"train": 30000, "test": 5000}
means = []
for split, rows in expected_rows.items():
    with h5py.File(f"{out}/{split}.h5", "r") as f:
        x, y = f["inputs"], f["labels"]
        assert x.shape == (rows, 1, 28, 28), (split, x.shape)
        assert x.dtype == np.uint8, (split, x.dtype)
        assert y.shape == (rows,) and y.dtype == np.int64, (split, y.shape, y.dtype)
        assert x.chunks is not None and x.chunks[0] == 1024, (split, x.chunks)
        labels = y[:]
        assert labels.min() == 0 and labels.max() == 4, (split, labels.min(), labels.max())
        # Fashion-MNIST is balanced: 6000 train / 1000 test images per class.
        assert (np.bincount(labels) == rows // 5).all(), (split, np.bincount(labels))
        a = f.attrs
        for key in ("frost_schema", "task", "num_classes", "input_kind", "mean", "std", "class_ids"):
            assert key in a, (split, key, list(a.keys()))
        assert int(a["frost_schema"]) == 1
        assert a["task"] == "classification" and a["input_kind"] == "image"
        assert int(a["num_classes"]) == 5
        assert list(a["class_ids"]) == [0, 1, 2, 3, 4]
        assert a["mean"].shape == (1,) and a["std"].shape == (1,)
        means.append((float(a["mean"][0]), float(a["std"][0])))
        if split == "train":
            px = x[:].astype(np.float64) / 255.0
            assert abs(px.mean() - a["mean"][0]) < 1e-9, (px.mean(), a["mean"][0])
            assert abs(px.std() - a["std"][0]) < 1e-9, (px.std(), a["std"][0])
assert means[0] == means[1], means  # test.h5 carries the train statistics
print("e2e prep: real data OK", means[0])
EOF
[[ -z "$(find "$WORK/out" -name '*.tmp.*')" ]] || fail "temporary files left in $WORK/out"

# ---- 2. corrupted inputs: non-zero exit, file named, nothing written ------------------------
# expect_failure NAME SRC_DIR BAD_FILE: frost-prep must fail, name BAD_FILE, write nothing.
expect_failure() {
  local name="$1" src="$2" bad="$3" out="$WORK/out-$1" rc=0
  "$PREP" fashion-mnist --src "$src" --out "$out" --classes 0-4 > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?
  [[ $rc -ne 0 ]] || fail "$name: frost-prep exited 0 on corrupt input"
  grep -q "^frost-prep: error: " "$WORK/$name.err" || fail "$name: no 'frost-prep: error:' line: $(cat "$WORK/$name.err")"
  grep -qF "$bad" "$WORK/$name.err" || fail "$name: stderr does not name $bad: $(cat "$WORK/$name.err")"
  if [[ -e "$out" ]] && [[ -n "$(find "$out" -mindepth 1 -print -quit)" ]]; then
    fail "$name: files left behind: $(find "$out" -mindepth 1)"
  fi
  echo "e2e prep: $name -> exit $rc: $(head -c 300 "$WORK/$name.err")"
}

fresh_copy() {  # fresh_copy DIR: a writable copy of the four input files
  mkdir -p "$1" && cp "$SRC"/*-ubyte.gz "$1"/
}

# Truncated gzip: half of the train images file.
fresh_copy "$WORK/truncated"
f="$WORK/truncated/train-images-idx3-ubyte.gz"
head -c "$(( $(stat -c %s "$f") / 2 ))" "$SRC/train-images-idx3-ubyte.gz" > "$f"
expect_failure truncated "$WORK/truncated" "$f"

# Wrong magic in the LAST file read (test labels): train.h5 must not be written either.
fresh_copy "$WORK/magic"
"$PYTHON" - "$WORK/magic/t10k-labels-idx1-ubyte.gz" <<'EOF'
import gzip, sys
path = sys.argv[1]
data = bytearray(gzip.open(path).read())
data[0] = 0x01  # IDX magic starts 00 00
data[2] = 0x0C
with gzip.open(path, "wb") as f:
    f.write(bytes(data))
EOF
expect_failure magic "$WORK/magic" "$WORK/magic/t10k-labels-idx1-ubyte.gz"

# Image/label count mismatch: the train labels next to the test images.
fresh_copy "$WORK/count"
cp "$SRC/train-labels-idx1-ubyte.gz" "$WORK/count/t10k-labels-idx1-ubyte.gz"
expect_failure count "$WORK/count" "$WORK/count/t10k-labels-idx1-ubyte.gz"

# A missing input file.
fresh_copy "$WORK/missing"
rm "$WORK/missing/t10k-images-idx3-ubyte.gz"
expect_failure missing "$WORK/missing" "$WORK/missing/t10k-images-idx3-ubyte.gz"

# Bad command lines fail too, with the usage hint; --help succeeds.
rc=0; "$PREP" fashion-mnist --src "$SRC" --out "$WORK/out-cls" --classes 3-1 2> "$WORK/cls.err" || rc=$?
[[ $rc -ne 0 ]] && grep -qF -- "--classes '3-1'" "$WORK/cls.err" || fail "bad --classes not rejected: $(cat "$WORK/cls.err")"
[[ ! -e "$WORK/out-cls" ]] || fail "bad --classes created $WORK/out-cls"
"$PREP" --help | grep -- "--chunk-rows" > /dev/null || fail "--help does not list --chunk-rows"

echo "e2e prep: PASS"
