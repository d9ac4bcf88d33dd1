#!/usr/bin/env bash
# End-to-end test of `frost-prep images` on real image files: Fashion-MNIST's first 300 test
# images written as PNG and as JPEG into ImageFolder trees (ROOT/{train,test}/<label>/, by the
# test tool frost-test-images, which also writes the same images as IDX files):
#   1. the PNG folder converts to exactly the rows, labels and mean/std of the IDX path
#      (frost-prep fashion-mnist); the JPEG folder within a small error;
#   2. training from the converted folder gives the same losses, step for step, as training from
#      the IDX path (also from the 2-rank shards, read through a glob);
#   3. under mpirun -np 2 each rank writes one shard; together they are the single-process file;
#   4. bad inputs: a corrupt and a cut-off image fail naming the path and write nothing (also
#      when only rank 1 sees the bad file), or are skipped and listed with --on-bad-image skip;
#      an empty class folder, images directly in ROOT, one class, an unknown CSV label, a CSV
#      path that does not exist; mixed image sizes are resized.
source "$(dirname "$0")/lib.sh"
PREP="$FROST_BIN/frost-prep"
IMG="$FROST_BIN/frost-test-images"
T="$FROST_BIN/frost-train"
SRC="${FROST_FMNIST:-/usr/share/datasets/fashion-mnist}"
[[ -x "$IMG" ]] || fail "$IMG is not an executable (build the frost-test-images target)"
[[ -f "$SRC/t10k-images-idx3-ubyte.gz" ]] || fail "missing $SRC (package dataset-fashion-mnist)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ---- 1. PNG exact, JPEG close --------------------------------------------------------------------
"$IMG" fmnist "$SRC" 300 200 "$WORK/png" png "$WORK/idx"
"$IMG" fmnist "$SRC" 300 200 "$WORK/jpeg" jpeg
"$PREP" fashion-mnist --src "$WORK/idx" --out "$WORK/from-idx" > "$WORK/idx.out"
"$PREP" images --src "$WORK/png" --out "$WORK/from-png" --size 28 > "$WORK/png.out" 2> "$WORK/png.err"
expect_in "$WORK/png.out" "split from the train/test folders, 1 x 28 x 28"
expect_in "$WORK/png.out" "from-png/train.h5: 200 samples"
expect_in "$WORK/png.err" "300/300 converted"
"$PREP" images --src "$WORK/jpeg" --out "$WORK/from-jpeg" --size 28 --compress 4 > "$WORK/jpeg.out"
"$PY" - "$WORK" <<'PY'
import json, sys
import h5py, numpy as np
w = sys.argv[1]
for split in ("train", "test"):
    with h5py.File(f"{w}/from-idx/{split}.h5") as a, h5py.File(f"{w}/from-png/{split}.h5") as b, \
         h5py.File(f"{w}/from-jpeg/{split}.h5") as c:
        assert b["inputs"].shape == a["inputs"].shape and b["inputs"].dtype == np.uint8
        assert (b["inputs"][:] == a["inputs"][:]).all(), split
        assert (b["labels"][:] == a["labels"][:]).all() and (c["labels"][:] == a["labels"][:]).all()
        assert list(b.attrs["mean"]) == list(a.attrs["mean"]), (b.attrs["mean"], a.attrs["mean"])
        assert list(b.attrs["std"]) == list(a.attrs["std"])
        assert json.loads(b.attrs["label_values"]) == [str(i) for i in range(10)]
        assert b.attrs["input_kind"] == "image" and int(b.attrs["num_classes"]) == 10
        err = np.abs(c["inputs"][:].astype(int) - a["inputs"][:].astype(int))
        assert err.mean() < 2.0 and err.max() < 64, (err.mean(), err.max())
        assert c["inputs"].compression == "gzip" and b["inputs"].compression is None
print("PNG rows == IDX rows; JPEG mean abs error below 2")
PY
pass "PNG conversion reproduces the IDX pixels exactly, JPEG within tolerance"

# ---- 3. shards under mpirun ------------------------------------------------------------------------
"$FROST_MPIRUN" --quiet -np 2 "$PREP" images --src "$WORK/png" --out "$WORK/shards" --size 28 \
  --threads 1 > "$WORK/shards.out" 2>&1 || { cat "$WORK/shards.out"; fail "mpirun frost-prep images"; }
expect_in "$WORK/shards.out" "2 shards per split"
"$PY" - "$WORK" <<'PY'
import sys
import h5py, numpy as np
w = sys.argv[1]
for split in ("train", "test"):
    parts = [h5py.File(f"{w}/shards/{split}-0000{r}-of-00002.h5") for r in (0, 1)]
    x = np.concatenate([p["inputs"][:] for p in parts])
    y = np.concatenate([p["labels"][:] for p in parts])
    with h5py.File(f"{w}/from-png/{split}.h5") as one:
        assert (x == one["inputs"][:]).all() and (y == one["labels"][:]).all(), split
        for p in parts:
            assert list(p.attrs["mean"]) == list(one.attrs["mean"]), split
print("2 shards == one file")
PY
pass "mpirun -np 2: one shard per rank, together the single-process file"

# ---- 2. training from the folder == training from the IDX path -----------------------------------
common=(--model.backbone mlp --model.mlp_hidden 32 --data.batch_size 20 --train.epochs 2
        --train.threads 1 --optim.name adamw --optim.lr 0.003)
for src in idx:from-idx/train.h5:from-idx/test.h5 png:from-png/train.h5:from-png/test.h5 \
           shards:shards/train-*.h5:shards/test-*.h5; do
  IFS=: read -r name tr te <<< "$src"
  train -np 2 "$T" "${common[@]}" --data.train "$WORK/$tr" --data.test "$WORK/$te" \
    --log.dir "$WORK/run-$name" > "$WORK/run-$name.out" 2>&1 || { cat "$WORK/run-$name.out"; fail "training $name"; }
done
"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def rows(name):
    return [(r["kind"], r.get("step"), r.get("loss"), r.get("eval_loss"))
            for r in map(json.loads, open(f"{w}/run-{name}/metrics.jsonl")) if r["kind"] in ("train", "eval")]
a = rows("idx")
assert len([r for r in a if r[0] == "train"]) >= 10, a
assert all(isinstance(r[2], float) for r in a if r[0] == "train"), a  # losses, not missing keys
assert rows("png") == a, (rows("png"), a)
assert rows("shards") == a, (rows("shards"), a)
print(len(a), "train/eval records identical")
PY
pass "training from the PNG folder (and its shards) == training from the IDX files, loss for loss"

# ---- 4. bad inputs -----------------------------------------------------------------------------------
# expect_failure NAME TEXT ARGS...: frost-prep images fails, its error contains TEXT, no file left.
expect_failure() {
  local name="$1" text="$2"; shift 2
  local out="$WORK/bad-$name" rc=0
  "$PREP" images "$@" --out "$out" --size 28 > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?
  [[ $rc -eq 1 ]] || fail "$name: exit $rc, expected 1: $(cat "$WORK/$name.err")"
  grep -q "^frost-prep: error: " "$WORK/$name.err" || fail "$name: no error line: $(cat "$WORK/$name.err")"
  expect_in "$WORK/$name.err" "$text"
  [[ ! -e "$out" ]] || [[ -z "$(find "$out" -mindepth 1 -print -quit)" ]] || fail "$name: files left: $(find "$out")"
  echo "  $name -> $(grep '^frost-prep: error' "$WORK/$name.err" | head -c 240)"
}
flat() {  # flat DIR: a copy of the PNG folder without the split (DIR/<label>/...)
  mkdir -p "$1" && cp -r "$WORK/png/train/." "$1/"
}
flat "$WORK/corrupt"
head -c 200 /dev/urandom > "$WORK/corrupt/3/zz-corrupt.png"
expect_failure corrupt "$WORK/corrupt/3/zz-corrupt.png" --src "$WORK/corrupt"
flat "$WORK/cut"
f=$(ls "$WORK/jpeg/train/5/"*.jpg | head -1)
head -c "$(( $(stat -c %s "$f") - 100 ))" "$f" > "$WORK/cut/5/cut.jpg"  # cut in the scan data
expect_failure truncated "$WORK/cut/5/cut.jpg: a damaged or cut-off JPEG image" --src "$WORK/cut"
# Two ranks, the bad file in one rank's share: every rank fails, no shard is left.
rc=0
"$FROST_MPIRUN" --quiet -np 2 "$PREP" images --src "$WORK/cut" --out "$WORK/bad-mpi" --size 28 --seed 1 \
  --threads 1 > "$WORK/mpi-bad.out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "mpirun with a cut-off JPEG exited 0"
expect_in "$WORK/mpi-bad.out" "$WORK/cut/5/cut.jpg"
[[ ! -e "$WORK/bad-mpi" ]] || [[ -z "$(find "$WORK/bad-mpi" -mindepth 1 -print -quit)" ]] \
  || fail "mpirun left files: $(find "$WORK/bad-mpi")"
# Skip mode: both bad files skipped, listed, the rest written.
cp "$WORK/corrupt/3/zz-corrupt.png" "$WORK/cut/3/"
"$PREP" images --src "$WORK/cut" --out "$WORK/skip" --size 28 --on-bad-image skip \
  > "$WORK/skip.out" 2> "$WORK/skip.err"
expect_in "$WORK/skip.out" "skipped 2 bad image(s), listed in $WORK/skip/skipped.txt"
expect_in "$WORK/skip/skipped.txt" "$WORK/cut/5/cut.jpg"
expect_in "$WORK/skip/skipped.txt" "$WORK/cut/3/zz-corrupt.png"
expect_in "$WORK/skip.err" "frost-prep: skipped: $WORK/cut/3/zz-corrupt.png"
"$PY" -c "import h5py,sys; n=sum(h5py.File(f'$WORK/skip/{s}.h5')['labels'].shape[0] for s in ('train','test')); assert n == 200, n"
pass "bad images: fail naming the path (1 or 2 ranks, nothing written) or skipped and listed"

flat "$WORK/empty" && mkdir "$WORK/empty/7b"
expect_failure empty_class "$WORK/empty/7b: the class folder '7b' holds no" --src "$WORK/empty"
flat "$WORK/stray" && cp "$WORK/png/train/1/"*.png "$WORK/stray/" 2>/dev/null
expect_failure wrong_layout "directly; expected the ImageFolder layout" --src "$WORK/stray"
mkdir -p "$WORK/one" && cp -r "$WORK/png/train/4" "$WORK/one/"
expect_failure one_class "holds 1 class(es)" --src "$WORK/one"
mkdir -p "$WORK/noclass" && echo notes > "$WORK/noclass/README.txt"
expect_failure no_classes "holds no class folders" --src "$WORK/noclass"
printf 'path,label\ntrain/1/%s,shirt\ntrain/2/%s,bag\n' "$(ls "$WORK/png/train/1" | head -1)" \
  "$(ls "$WORK/png/train/2" | head -1)" > "$WORK/png/list.csv"
expect_failure csv_label "line 3: unknown label 'bag'" --csv "$WORK/png/list.csv" --labels shirt,coat
printf 'path,label\ntrain/1/nothere.png,shirt\n' > "$WORK/png/missing.csv"
expect_failure csv_missing "line 2: the image '$WORK/png/train/1/nothere.png' does not exist" \
  --csv "$WORK/png/missing.csv"
expect_failure bad_option "--on-bad-image 'ignore' is not one of" --src "$WORK/png" --on-bad-image ignore
pass "layout and CSV errors name the folder, line or label; nothing written"

# Mixed sizes, RGB and grey, JPEG and PNG: all come out [3, 28, 28].
flat "$WORK/mixed"
"$IMG" plain "$WORK/mixed/0/big.jpg" 300 200 3 90
"$IMG" plain "$WORK/mixed/1/small.png" 10 17 1 200
"$PREP" images --src "$WORK/mixed" --out "$WORK/mixed-out" --size 28 --test-frac 0.25 > "$WORK/mixed.out"
expect_in "$WORK/mixed.out" "3 x 28 x 28 (crop)"
"$PY" -c "
import h5py
with h5py.File('$WORK/mixed-out/train.h5') as t, h5py.File('$WORK/mixed-out/test.h5') as u:
    assert t['inputs'].shape[1:] == (3, 28, 28) and t['inputs'].shape[0] + u['inputs'].shape[0] == 202
"
pass "mixed sizes and channel counts are resized to one shape"

"$PREP" --help > "$WORK/help.txt"
expect_in "$WORK/help.txt" "--on-bad-image"
echo "e2e prep images: PASS"
