#!/usr/bin/env bash
# The GPU check kit (tests/gpu/check.sh) on a machine without a GPU: a clean "no GPU: nothing to
# check" summary, every step NOT-RUN, exit 0, summary.txt written; bad arguments exit 2 naming
# the file. The bundle is a minimal folder (manifest.txt only): without a GPU the kit must not
# touch anything else. Case 2 (nvidia-smi lists a GPU, torch sees none) needs FROST_PYTHON's
# torch without CUDA devices; on a GPU machine it is left out, and the output says so.
source "$(dirname "$0")/lib.sh"
CHECK=$FROST_SRC/tests/gpu/check.sh
mkdir -p "$WORK/bundle"
printf 'frost_commit=0123abc\nbuilt_utc=2026-01-01T00:00:00Z\nbuild_type=Release\ntorch_version=2.11.0+cu130\nlibtorch_cuda_sha256=00\n' \
  > "$WORK/bundle/manifest.txt"

# expect_no_gpu OUTDIR STDOUT REASON: the no-GPU summary, on stdout and in OUTDIR/summary.txt.
expect_no_gpu() {
  local out=$1 stdout=$2 reason=$3 s
  [[ -f $out/summary.txt ]] || fail "no $out/summary.txt"
  cmp -s "$out/summary.txt" "$stdout" || { diff "$out/summary.txt" "$stdout" >&2; fail "summary.txt differs from what was printed"; }
  expect_in "$stdout" "no GPU: nothing to check ($reason"
  expect_in "$stdout" "GPU        none: $reason"
  expect_in "$stdout" "bundle     commit 0123abc"
  for s in env tests prep init cpu-ref cpu-ref2 gpu-1 gpu-2 full head bench; do
    grep -qE "^$s +NOT-RUN +0s +no GPU\$" "$stdout" || { cat "$stdout" >&2; fail "step $s is not NOT-RUN (no GPU)"; }
  done
  if grep -qE '^[a-z0-9-]+ +(PASS|FAIL) ' "$stdout"; then cat "$stdout" >&2; fail "a step claims PASS or FAIL without a GPU"; fi
  (( $(wc -l < "$stdout") <= 25 )) || fail "the summary is longer than one screen"
}

# 1. No nvidia-smi at all.
t0=$(date +%s%N)
rc=0
FROST_KIT_NVIDIA_SMI=$WORK/no-such/nvidia-smi bash "$CHECK" "$WORK/bundle" "$WORK/out1" > "$WORK/stdout1" 2> "$WORK/stderr1" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
(( rc == 0 )) || { cat "$WORK/stdout1" "$WORK/stderr1" >&2; fail "check.sh without nvidia-smi exited $rc, expected 0"; }
expect_no_gpu "$WORK/out1" "$WORK/stdout1" "no nvidia-smi on PATH"
pass "no nvidia-smi: 'no GPU: nothing to check', exit 0, summary.txt ($ms ms)"

# 2. nvidia-smi lists a GPU, but torch.cuda.is_available() is false.
py=${FROST_PYTHON:-python3}
if ! cuda=$("$py" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null); then
  echo "note: case 2 left out: '$py' cannot import torch"
elif [[ $cuda == True ]]; then
  echo "note: case 2 left out: this machine has a GPU that torch can use"
else
  mkdir -p "$WORK/fake"
  printf '#!/bin/sh\necho "GPU 0: Fake GPU (UUID: GPU-00000000)"\n' > "$WORK/fake/nvidia-smi"
  chmod +x "$WORK/fake/nvidia-smi"
  rc=0
  FROST_KIT_NVIDIA_SMI=$WORK/fake/nvidia-smi FROST_NODE_PYTHON=$py \
    bash "$CHECK" "$WORK/bundle" "$WORK/out2" > "$WORK/stdout2" 2> "$WORK/stderr2" || rc=$?
  (( rc == 0 )) || { cat "$WORK/stdout2" "$WORK/stderr2" >&2; fail "check.sh with torch.cuda.is_available() false exited $rc"; }
  expect_no_gpu "$WORK/out2" "$WORK/stdout2" "torch.cuda.is_available() is false"
  expect_in "$WORK/out2/torch-env.txt" "torch_version=2."
  pass "nvidia-smi lists a GPU, torch sees none: 'no GPU: nothing to check', exit 0"
fi

# 3. Bad arguments: exit 2 and the file named; --help.
rc=0
bash "$CHECK" "$WORK" "$WORK/out3" > "$WORK/stdout3" 2>&1 || rc=$?
(( rc == 2 )) || fail "a folder without manifest.txt: exit $rc, expected 2"
expect_in "$WORK/stdout3" "$WORK/manifest.txt not found"
rc=0
bash "$CHECK" "$WORK/bundle" > "$WORK/stdout4" 2>&1 || rc=$?
(( rc == 2 )) || fail "one argument: exit $rc, expected 2"
expect_in "$WORK/stdout4" "expected BUNDLE OUTDIR"
bash "$CHECK" --help > "$WORK/help" || fail "--help exited non-zero"
expect_in "$WORK/help" "no GPU: nothing to check"
pass "bad arguments: exit 2 naming the file; --help"

# 4. An incomplete bundle (manifest.txt but no env.sh) on a machine taken for a GPU node, with
# LD_LIBRARY_PATH unset: the kit reports the missing env.sh in its summary (exit 1), it does not
# crash on the unset variable without a summary.
rc=0
env -u LD_LIBRARY_PATH FROST_KIT_ASSUME_GPU=1 FROST_KIT_BUDGET_S=60 \
  bash "$CHECK" "$WORK/bundle" "$WORK/out5" > "$WORK/stdout5" 2>&1 || rc=$?
(( rc == 1 )) || { cat "$WORK/stdout5" >&2; fail "an incomplete bundle: exit $rc, expected 1"; }
[[ -f $WORK/out5/summary.txt ]] || fail "an incomplete bundle: no summary.txt"
grep -qE "^env +FAIL .*env.sh is missing: the bundle is incomplete" "$WORK/stdout5" \
  || { cat "$WORK/stdout5" >&2; fail "the summary does not name the missing env.sh"; }
pass "an incomplete bundle: env FAIL naming env.sh, summary written, exit 1"
