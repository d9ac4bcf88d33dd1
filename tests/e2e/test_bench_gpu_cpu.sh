#!/usr/bin/env bash
# bench/gpu.py in its CPU mode (--device cpu --quick: tiny BERT and ResNet-50 layouts, a few
# steps): the GPU benchmark harness end to end without a GPU. The report must hold both
# frameworks' samples/s and their ratio for every cell, a passed loss check, the linear probe and
# the loader rows, and the CSVs; the run must end within FROST_BENCH_GPU_LIMIT_S (default 240 s,
# a guard against a hang: 20 s on 2 idle cores, 75-150 s on busy ones). The peer reads the raw
# copy of the data (--peer-raw), the path it takes on a GPU node without h5py. Skipped (77) when
# FROST_PYTHON cannot import torch.
source "$(dirname "$0")/lib.sh"
py=${FROST_PYTHON:-python3}
"$py" -c 'import torch' 2> /dev/null || { echo "skip: '$py' cannot import torch"; exit 77; }
limit=${FROST_BENCH_GPU_LIMIT_S:-240}
out=$WORK/bench
t0=$(date +%s)
rc=0
FROST_NODE_PYTHON=$py "$py" "$FROST_SRC/bench/gpu.py" --device cpu --quick --no-docs --outdir "$out" \
  --bin "$FROST_BIN" --peer-raw > "$WORK/bench.log" 2>&1 || rc=$?
s=$(( $(date +%s) - t0 ))
(( rc == 0 )) || { tail -60 "$WORK/bench.log" >&2; fail "bench/gpu.py --device cpu --quick exited $rc"; }
r=$out/report.md
[[ -f $r ]] || fail "no $r"
expect_in "$r" "CPU mode: tiny layouts"
expect_in "$r" "Peer data reader: raw"
expect_in "$r" "| model | strategy | precision | micro-batch | Frost samples/s | DDP samples/s | Frost / DDP |"
for model in bert resnet50; do
  # | model | full | fp32 | 8 | <frost> | <ddp> | <ratio> | ... | loss check |
  line=$(grep -E "^\| $model \| full \| fp32 \| [0-9]+ \|" "$r" || true)
  [[ -n $line ]] || { cat "$r" >&2; fail "no $model row in the throughput table"; }
  echo "$line" | awk -F'|' '{ for (i = 6; i <= 8; i++) if ($i !~ /^ *[0-9]+\.[0-9]+ *$/) exit 1 }' ||
    fail "$model: Frost samples/s, DDP samples/s or the ratio is not a number: $line"
  echo "$line" | grep -q "| pass (" || fail "$model: the loss check did not pass: $line"
done
grep -qE "^\| resnet50 \| fp32 \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| pass" "$r" ||
  { cat "$r" >&2; fail "no linear-probe row with times and a passed loss check"; }
grep -qE "^\| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|" "$r" || { cat "$r" >&2; fail "no loader row"; }
expect_in "$r" "Step breakdown"
for f in runs.csv cells.csv; do [[ -s $out/$f ]] || fail "no $out/$f"; done
expect_in "$WORK/bench.log" "gpu.py: PASS"
[[ ! -e $out/work/scratch ]] || fail "the scratch folder (data, weights) was not removed"
pass "bench/gpu.py --device cpu --quick: report, CSVs, loss checks pass ($s s)"
(( s <= limit )) || fail "bench/gpu.py --device cpu --quick took $s s, over $limit s"
