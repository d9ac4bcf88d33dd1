#!/usr/bin/env bash
# frost-bench loader end to end: --help, option errors, and runs on an image, a features and a
# token file (2 simulated ranks, and one chosen rank) whose table and CSV have the columns and
# the sample counts expected. Timings are not checked.
source "$(dirname "$0")/lib.sh"
B="$FROST_BIN/frost-bench"

"$B" loader --help > "$WORK/help.txt"
for opt in --data --batch-size --prefetch --ranks --rank --epochs --steps --repeats --seed --csv \
    --chunk-cache-mb --direct-reads; do
  expect_in "$WORK/help.txt" "$opt"
done
"$B" --help > "$WORK/help-all.txt"
expect_in "$WORK/help-all.txt" "frost-bench loader --help"
pass "--help lists the options"

make_data "$WORK/img.h5" --n 300 --kind image --hw 6 --classes 4
make_data "$WORK/feat.h5" --n 101 --kind features --dim 5
"$PY" - "$WORK/tok.h5" <<'PY'
import sys
import h5py
import numpy as np
n, length = 50, 16
rng = np.random.default_rng(0)
lengths = rng.integers(2, length + 1, n)
mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.uint8)
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("inputs", data=(rng.integers(1, 100, (n, length)) * mask).astype(np.int32), chunks=(8, length))
    f.create_dataset("attention_mask", data=mask, chunks=(8, length))
    f.create_dataset("labels", data=rng.integers(0, 2, n).astype(np.int64))
    f.attrs["frost_schema"] = np.int64(1)
    f.attrs["num_classes"] = np.int64(2)
    f.attrs["input_kind"] = "tokens"
PY

bad() {  # bad EXPECTED-TEXT ARGS...: the run fails with exit status 2 and prints the text
  local want="$1"; shift
  local rc=0
  "$B" loader "$@" > "$WORK/out.txt" 2>&1 || rc=$?
  [[ $rc == 2 ]] || { cat "$WORK/out.txt" >&2; fail "'loader $*' exited with $rc, expected 2"; }
  expect_in "$WORK/out.txt" "frost-bench: error: $want"
}
bad "no --data file given" --batch-size 8
bad "--batch-size must be >= 1, got 0" --data "$WORK/img.h5" --batch-size 0
bad "--rank 2 is outside [0, 2) (--ranks 2)" --data "$WORK/img.h5" --ranks 2 --rank 2
bad "--rank 'x' is not a rank" --data "$WORK/img.h5" --rank x
bad "--repeats must be >= 1, got 0" --data "$WORK/img.h5" --repeats 0
bad "--steps must be >= 0 (0 = all), got -1" --data "$WORK/img.h5" --steps -1
bad "--chunk-cache-mb must be >= 0, got -1" --data "$WORK/img.h5" --chunk-cache-mb -1
bad "unrecognised option '--batch'" --data "$WORK/img.h5" --batch 3
bad "--csv '$WORK/missing/a.csv': directory '$WORK/missing' does not exist" --data "$WORK/img.h5" --csv "$WORK/missing/a.csv"
rc=0
"$B" loader --data "$WORK/missing.h5" > "$WORK/out.txt" 2>&1 || rc=$?
[[ $rc == 1 ]] || { cat "$WORK/out.txt" >&2; fail "a missing file exited with $rc, expected 1"; }
expect_in "$WORK/out.txt" "frost-bench: error: $WORK/missing.h5: cannot open dataset file"
pass "option errors"

# Two simulated ranks over three files, 2 epochs: every phase reads each file twice.
"$B" loader --data "$WORK/img.h5" --data "$WORK/feat.h5" --data "$WORK/tok.h5" --batch-size 7 \
  --ranks 2 --repeats 2 --epochs 2 --csv "$WORK/l.csv" > "$WORK/out.txt" 2> "$WORK/err.txt" ||
  { cat "$WORK/err.txt"; fail "loader run failed"; }
expect_in "$WORK/out.txt" "# frost-bench loader: $WORK/img.h5 (1 file)"
expect_in "$WORK/out.txt" "300 samples, image [1, 6, 6] uint8 (36 B per sample)"
expect_in "$WORK/out.txt" "/inputs: chunked, 64 rows (2304 B) per chunk, 5 chunks, no filter, 0.0 MB in the file; rows copied from a mapping of the file"
expect_in "$WORK/out.txt" "50 samples, tokens [16] int32 (64 B per sample), with /attention_mask"
expect_in "$WORK/out.txt" "batch size 7 per rank, prefetch 2, shuffled: world size 2 (timed: ranks 0-1, one after another), epochs 2, seed 0; repeats 2 (medians)"
expect_in "$WORK/out.txt" "read  ranks    samples   time (s)  spread    cpu (s)    samples/s      MB/s   vs raw  vs tensors"
"$PY" - "$WORK/l.csv" "$WORK" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
work = sys.argv[2]
assert list(rows[0].keys()) == ["file", "read", "ranks", "world size", "batch size", "prefetch",
    "epochs", "samples", "time (s)", "spread", "cpu (s)", "samples/s", "MB/s", "vs raw", "vs tensors"], rows[0].keys()
want = []
for name, n in (("img", 300), ("feat", 101), ("tok", 50)):
    used = n // 2 * 2  # the sampler drops N mod W
    want += [(f"{work}/{name}.h5", "sequential, raw", "-", 2 * n),
             (f"{work}/{name}.h5", "sequential, tensors", "-", 2 * n),
             (f"{work}/{name}.h5", "loader, shuffled", "0-1", 2 * used)]
got = [(r["file"], r["read"], r["ranks"], int(r["samples"])) for r in rows]
assert got == want, got
for r in rows:
    assert (r["world size"], r["batch size"], r["prefetch"], r["epochs"]) == ("2", "7", "2", "2"), r
    t, sps = float(r["time (s)"]), float(r["samples/s"])
    assert t > 0 and abs(sps - int(r["samples"]) / t) <= 1e-3 * sps + 0.1, r
for col, base in (("vs raw", "sequential, raw"), ("vs tensors", "sequential, tensors")):
    ref = {r["file"]: float(r["samples/s"]) for r in rows if r["read"] == base}
    for r in rows:
        ratio = float(r["samples/s"]) / ref[r["file"]]
        assert abs(float(r[col]) - ratio) <= 1e-3 * ratio + 1e-4, (col, r)
        if r["read"] == base:
            assert float(r[col]) == 1.0, (col, r)
PY
pass "2 simulated ranks, 3 files: table and CSV"

# One chosen rank of 3 (a third of the samples, 300 = 3 x 100); then only 3 steps of 16.
"$B" loader --data "$WORK/img.h5" --batch-size 16 --ranks 3 --rank 1 --repeats 1 \
  --csv "$WORK/r.csv" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "--rank 1 run failed"; }
expect_in "$WORK/out.txt" "world size 3 (timed: rank 1)"
"$B" loader --data "$WORK/img.h5" --batch-size 16 --ranks 3 --rank 1 --repeats 1 --steps 3 \
  --csv "$WORK/s.csv" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "--steps 3 run failed"; }
expect_in "$WORK/out.txt" "seed 0, first 3 steps per epoch; repeats 1"
# Through HDF5 instead of the mapping: the same samples.
"$B" loader --data "$WORK/img.h5" --batch-size 16 --repeats 1 --direct-reads false > "$WORK/out.txt" 2> "$WORK/err.txt" ||
  { cat "$WORK/err.txt"; fail "--direct-reads false run failed"; }
expect_in "$WORK/out.txt" "no filter, 0.0 MB in the file; rows read with H5Dread, HDF5 chunk cache 0 B"
"$PY" - "$WORK/r.csv" "$WORK/s.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(r["ranks"], int(r["samples"])) for r in rows] == [("-", 300), ("-", 300), ("1", 100)], rows
rows = list(csv.DictReader(open(sys.argv[2])))
assert [(r["ranks"], int(r["samples"])) for r in rows] == [("-", 300), ("-", 48), ("1", 48)], rows
PY
pass "one chosen rank, --steps"
