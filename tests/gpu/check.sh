#!/usr/bin/env bash
# tests/gpu/check.sh: the GPU check kit (docs/gpu.md, "The GPU check kit"). Runs on a node with
# an NVIDIA GPU and PyTorch 2.11 but no network, from a bundle made by launch/bundle.sh:
#
#   bash BUNDLE/kit/check.sh BUNDLE OUTDIR
#
# Steps, each bounded by `timeout` and by the kit's time budget (FROST_KIT_BUDGET_S, default 540):
#   a  env      nvidia-smi summary, torch/CUDA/NCCL versions, sha256 of the node's
#               libtorch_cuda.so against the bundle's manifest, ldd of the binaries ("not found")
#   b  tests    the ctest entries labelled gpu (tests/gpu-tests.json); with none, the test
#               binaries' tests whose names say GPU/CUDA/NCCL (gtest filter); none: NOT-RUN
#   c  prep     frost-prep: Fashion-MNIST slice -> task A (classes 0-4) and B (5-9) HDF5
#      init     CPU, 1 rank, 1 step: the common starting point (model.pt) of the runs below
#      cpu-ref  CPU, 1 rank, batch 32, 19 more steps: the reference of gpu-1
#      cpu-ref2 CPU, 2 ranks (MPI), batch 16 each: the reference of gpu-2 (BatchNorm statistics
#               are per rank, so 2 x 16 is compared with 2 x 16, not with 1 x 32)
#      gpu-1    GPU (train.device=cuda, dist.backend=nccl), 1 rank, batch 32: parameters vs cpu-ref
#      gpu-2    GPU, 2 ranks sharing the GPU (dist.shared_gpu, NCCL_HOSTID per rank, socket
#               transport over lo), batch 16 each: parameters vs cpu-ref2
#   d  full     task B, full fine-tuning in bf16 from cpu-ref's backbone: loss falls; steps timed
#               by CUDA events (forward, backward, h2d > 0) and peak GPU memory > 0 in metrics
#      head     task B, linear probe in bf16: as full, and the backbone bitwise unchanged
#   f  bench    bench/gpu.py --quick (Frost against PyTorch DDP: BERT-base and ResNet-50 throughput,
#               MFU, step breakdown, memory, loss check, linear probe, loader) in what is left of
#               the budget (at least 90 s; cells that no longer fit are listed, not run); report
#               in OUTDIR/bench/report.md; PASS when every run it started ended and every loss
#               check passed
#   e  summary  printed and written to OUTDIR/summary.txt; every log is under OUTDIR
# Each step is PASS, FAIL or NOT-RUN (with the reason); the exit status is 0 when no step
# failed, 1 otherwise, 2 for bad arguments. Without a GPU (no nvidia-smi, or
# torch.cuda.is_available() false) it prints "no GPU: nothing to check" and exits 0.
#
# Environment: FROST_NODE_PYTHON (default python3: the Python with torch), FROST_TORCH_SITE
# (its site-packages, instead of asking that Python), FROST_KIT_BUDGET_S, FROST_KIT_PRECISION_C
# (precision of the gpu-1/gpu-2 comparison runs, default fp32), FROST_KIT_TOL (their tolerance,
# default 0.05 = 5 % of the change the reference's 19 steps made), FROST_KIT_NVIDIA_SMI (the
# nvidia-smi command, default nvidia-smi), FROST_KIT_ASSUME_GPU=1 (skip the GPU detection: to
# test the kit itself on a machine without a GPU; the GPU steps then fail).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "check.sh: error: $*" >&2; exit 2; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
(($# == 2)) || { usage >&2; die "expected BUNDLE OUTDIR, got $# argument(s)"; }
[[ -d $1 ]] || die "bundle folder '$1' does not exist"
B=$(cd "$1" && pwd)
[[ -f $B/manifest.txt ]] || die "$B/manifest.txt not found: '$1' is not a bundle made by launch/bundle.sh"
mkdir -p "$2" || die "cannot create the output folder '$2'"
O=$(cd "$2" && pwd)
W=$O/work
rm -rf "$W" "$O/summary.txt" "$O/results.tsv"
mkdir -p "$W"
KIT=$(cd "$(dirname "$0")" && pwd)
PY=${FROST_NODE_PYTHON:-python3}
SMI=${FROST_KIT_NVIDIA_SMI:-nvidia-smi}
budget=${FROST_KIT_BUDGET_S:-540}
[[ $budget =~ ^[0-9]+$ ]] || die "FROST_KIT_BUDGET_S must be whole seconds, got '$budget'"
t_start=$(date +%s)
deadline=$((t_start + budget))
prec_c=${FROST_KIT_PRECISION_C:-fp32}
tol=${FROST_KIT_TOL:-0.05}
manifest() { sed -n "s/^$1=//p" "$B/manifest.txt" | head -1; }

# ---- results ----------------------------------------------------------------------------------
# record STEP RESULT SECONDS NOTE: one row of OUTDIR/results.tsv (the summary's source).
record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$O/results.tsv"
  ((quiet)) || printf 'check.sh: %-8s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4" >&2
}
: >"$O/results.tsv"
quiet=0  # 1: record writes results.tsv only (the summary shows every row anyway)
info=()   # summary header lines
left() { echo $((deadline - $(date +%s))); }
# bounded LIMIT LOG CMD...: runs CMD under timeout min(LIMIT, budget left), output to LOG;
# returns CMD's status (124: timed out; 125: no time left).
bounded() {
  local limit=$1 log=$2 l
  shift 2
  l=$(left)
  ((l > limit)) || limit=$l
  if ((limit < 5)); then echo "check.sh: time budget spent" >"$log"; return 125; fi
  echo "\$ $*" >"$log"
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1
}
# why RC LOG: a short reason for a failed bounded command.
why() {
  case $1 in
    124) echo "timed out (log: ${2#"$O"/})" ;;
    125) echo "time budget spent" ;;
    *) echo "exit $1: $(grep -m1 -iE 'error|fail|not found|abort' "$2" | cut -c1-110 || true) (log: ${2#"$O"/})" ;;
  esac
}

summary() {
  local end status=0 line
  end=$(date +%s)
  {
    echo "Frost GPU check kit: summary"
    echo "date       $(date -u +%Y-%m-%dT%H:%M:%SZ)  host $(hostname)  total $((end - t_start)) s"
    echo "bundle     commit $(manifest frost_commit)  built $(manifest built_utc) ($(manifest build_type)) with torch $(manifest torch_version)"
    for line in "${info[@]}"; do echo "$line"; done
    echo "------------------------------------------------------------------------------"
    printf '%-8s %-7s %6s  %s\n' step result time note
    while IFS=$'\t' read -r s r t n; do
      printf '%-8s %-7s %5ss  %s\n' "$s" "$r" "$t" "$n"
      [[ $r != FAIL ]] || status=1
    done <"$O/results.tsv"
    echo "------------------------------------------------------------------------------"
    if [[ -n ${1:-} ]]; then echo "$1"
    elif ((status)); then echo "RESULT: FAIL (logs under $O)"
    else echo "RESULT: no step failed (NOT-RUN steps are not checked; logs under $O)"; fi
  } >"$O/summary.txt"
  cat "$O/summary.txt"
  return $status
}
all_not_run() {  # all_not_run REASON: every step NOT-RUN
  local s
  for s in env tests prep init cpu-ref cpu-ref2 gpu-1 gpu-2 full head bench; do record "$s" NOT-RUN 0 "$1"; done
}

# ---- is there a GPU? ----------------------------------------------------------------------------
gpu_reason=""
if [[ ${FROST_KIT_ASSUME_GPU:-0} == 1 ]]; then
  # Testing the kit itself where there is no GPU: every step runs; the GPU ones fail.
  info+=("WARNING    FROST_KIT_ASSUME_GPU=1: GPU detection skipped (a test of the kit, not of a GPU)")
  timeout 120 "$PY" "$KIT/kit_check.py" env >"$O/torch-env.txt" 2>&1 || true
elif ! command -v "$SMI" >/dev/null 2>&1; then
  gpu_reason="no nvidia-smi on PATH"
elif ! timeout 60 "$SMI" -L >"$O/nvidia-smi-L.txt" 2>&1 || ! grep -q '^GPU ' "$O/nvidia-smi-L.txt"; then
  gpu_reason="nvidia-smi lists no GPU ($(head -1 "$O/nvidia-smi-L.txt"))"
else
  if ! timeout 120 "$PY" "$KIT/kit_check.py" env >"$O/torch-env.txt" 2>&1; then
    gpu_reason="'$PY' cannot import torch ($(tail -1 "$O/torch-env.txt"))"
  elif ! grep -q '^cuda_available=True' "$O/torch-env.txt"; then
    gpu_reason="torch.cuda.is_available() is false ($(sed -n 's/^torch_version=//p' "$O/torch-env.txt"))"
  fi
fi
if [[ -n $gpu_reason ]]; then
  info+=("GPU        none: $gpu_reason")
  quiet=1
  all_not_run "no GPU"
  summary "no GPU: nothing to check ($gpu_reason)"
  exit 0
fi
tv() { sed -n "s/^$1=//p" "$O/torch-env.txt" | head -1; }
g_name="" g_driver="" g_mem="" g_mode=""
if command -v "$SMI" >/dev/null 2>&1; then
  timeout 60 "$SMI" --query-gpu=name,driver_version,memory.total,compute_mode --format=csv,noheader \
    >"$O/nvidia-smi-query.txt" 2>&1 || true
  timeout 60 "$SMI" >"$O/nvidia-smi.txt" 2>&1 || true
  IFS=, read -r g_name g_driver g_mem g_mode <"$O/nvidia-smi-query.txt" || true
fi
[[ -n $g_name ]] ||
  info+=("GPU        no data from nvidia-smi")
[[ -z $g_name ]] || info+=("GPU        ${g_name} ($(grep -c '^GPU ' "$O/nvidia-smi-L.txt" 2>/dev/null || true) GPU(s)),${g_mem:- ?},${g_mode:- ?} compute mode; driver${g_driver:- ?}")
info+=("node torch $(tv torch_version)  CUDA $(tv torch_cuda)  NCCL $(tv nccl_version)  cuDNN $(tv cudnn)  capability $(tv capability0)")

# ---- a: environment and ABI -----------------------------------------------------------------------
t0=$(date +%s)
set +e
# shellcheck disable=SC1091
if [[ -f $B/env.sh ]]; then
  source "$B/env.sh" >"$O/env.log" 2>&1
  env_rc=$?
  env_why=$(tail -1 "$O/env.log")
else
  env_rc=1 env_why="$B/env.sh is missing: the bundle is incomplete (copy the whole folder launch/bundle.sh made)"
  echo "$env_why" >"$O/env.log"
fi
set -e
{ echo "FROST_TORCH_SITE=${FROST_TORCH_SITE:-}"; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; echo "PATH=$PATH"; } >>"$O/env.log"
a_notes=() a_fail=0 binaries_load=1
if ((env_rc)); then a_fail=1; a_notes+=("env.sh: $env_why"); fi
node_so=${FROST_TORCH_SITE:-/nonexistent}/torch/lib/libtorch_cuda.so
want=$(manifest libtorch_cuda_sha256)
if [[ -f $node_so ]]; then
  got=$(sha256sum "$node_so" | cut -d' ' -f1)
  echo "libtorch_cuda.so: node $got, bundle built against $want" >>"$O/env.log"
  if [[ $got == "$want" ]]; then a_notes+=("libtorch_cuda.so sha256 matches")
  else
    a_fail=1
    same=""
    [[ $(tv torch_version) == "$(manifest torch_version)" && $(tv torch_git) == "$(manifest torch_git)" ]] &&
      same=", same version and git commit: a wheel for another Python than $(manifest torch_wheel_tag)?"
    a_notes+=("libtorch_cuda.so sha256 differs from the manifest (${got:0:12} vs ${want:0:12}$same); if later steps fail, build on the node")
  fi
else
  a_fail=1; a_notes+=("no $node_so")
fi
: >"$O/ldd.txt"
for f in "$B"/bin/* "$B"/tests/bin/*; do
  [[ -f $f ]] || continue
  echo "== $f" >>"$O/ldd.txt"
  timeout 60 ldd "$f" >>"$O/ldd.txt" 2>&1 || true
done
missing=$(grep 'not found' "$O/ldd.txt" | awk '{print $1}' | sort -u | tr '\n' ' ' || true)
if [[ -n $missing ]]; then
  a_fail=1 binaries_load=0; a_notes+=("ldd: not found: $missing")
else
  a_notes+=("ldd: every library found")
fi
{ echo "mpirun: $(command -v mpirun || echo none)"; timeout 30 mpirun --version 2>&1 | head -2; } >>"$O/env.log" || true
note=$(printf '%s; ' "${a_notes[@]}")
note=${note%; }
record env "$( ((a_fail)) && echo FAIL || echo PASS)" $(($(date +%s) - t0)) "$note"
if ((!binaries_load)); then
  for s in tests prep init cpu-ref cpu-ref2 gpu-1 gpu-2 full head bench; do
    record "$s" NOT-RUN 0 "the binaries do not load (step env; ldd.txt)"
  done
  summary || exit 1
  exit 0
fi

# ---- b: gpu-labelled tests -------------------------------------------------------------------
t0=$(date +%s)
rc=0
# the gpu-labelled entries: at most 270 s, and 300 s of the budget stay for steps c, d and f
l=$(($(left) - 300)); ((l < 270)) || l=270
((l >= 30)) || { l=$(left); ((l < 30)) || l=30; }  # a small budget: 30 s, or what is left
timeout -k 10 $((l + 30)) "$PY" "$KIT/run_tests.py" "$B" "$O" "$l" >"$O/tests.txt" 2>&1 || rc=$?
if ((rc == 3)); then
  # No ctest entry labelled gpu in this build: the test binaries' GPU-named tests, if any.
  filter='*Gpu*:*GPU*:*Cuda*:*CUDA*:*Nccl*:*NCCL*'
  mkdir -p "$O/tests" "$W/tmp"
  ran=0 failed=0 passed=0 skips=0
  for t in "$B"/tests/bin/*; do
    [[ -x $t ]] || continue
    n=$(basename "$t")
    [[ $n != frost_mpi_tests ]] || continue  # picks its tests by world size: ctest entries only
    listed=$(FROST_TEST_TMPDIR=$W/tmp FROST_SOURCE_DIR=$B/src timeout 60 "$t" --gtest_list_tests --gtest_filter="$filter" 2>/dev/null | grep -c '^  ' || true)
    ((listed > 0)) || continue
    ran=$((ran + listed))
    rc=0
    FROST_TEST_TMPDIR=$W/tmp FROST_SOURCE_DIR=$B/src bounded 200 "$O/tests/$n.log" "$t" --gtest_filter="$filter" || rc=$?
    # one line per test ("[       OK ] Suite.Name (12 ms)"), not gtest's closing list
    ok=$(grep -cE '^\[       OK \] .* \([0-9]+ ms\)$' "$O/tests/$n.log" || true)
    skipped=$(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' "$O/tests/$n.log" || true)
    passed=$((passed + ok)) skips=$((skips + skipped))
    if ((rc)); then failed=$((failed + 1)); echo "$n FAIL (exit $rc; $listed tests)" >>"$O/tests.txt"
    else echo "$n PASS ($ok passed, $skipped skipped)" >>"$O/tests.txt"; fi
  done
  what="no ctest entry labelled gpu; $ran GPU/CUDA/NCCL-named gtest(s): $passed passed, $skips skipped"
  if ((ran == 0)); then
    record tests NOT-RUN $(($(date +%s) - t0)) "this build has no gpu-labelled ctest entry and no GPU/CUDA/NCCL-named gtest"
  elif ((failed)); then
    record tests FAIL $(($(date +%s) - t0)) "$what, $failed binary(ies) failed (tests.txt)"
  elif ((passed == 0)); then
    record tests NOT-RUN $(($(date +%s) - t0)) "$what (every one skipped: tests/*.log say why)"
  else
    record tests PASS $(($(date +%s) - t0)) "$what"
  fi
elif ((rc == 4)); then
  record tests NOT-RUN $(($(date +%s) - t0)) "every gpu-labelled test skipped: $(wc -l <"$O/tests.txt") (tests/*.log say why)"
elif ((rc == 0)); then
  record tests PASS $(($(date +%s) - t0)) "$(wc -l <"$O/tests.txt") gpu-labelled tests: $(awk '{print $2}' "$O/tests.txt" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
else
  record tests FAIL $(($(date +%s) - t0)) "$(grep -cE ' (FAIL|TIMEOUT|NOT-RUN) ' "$O/tests.txt" || true) of $(wc -l <"$O/tests.txt") failed: $(grep -E ' (FAIL|TIMEOUT) ' "$O/tests.txt" | awk '{print $1}' | head -3 | tr '\n' ' ' || true)(tests.txt)"
fi

# ---- c: data, CPU reference, GPU runs compared with it ------------------------------------------
t0=$(date +%s)
prep_ok=1
for task in a:0-4 b:5-9; do
  name=${task%%:*} classes=${task#*:}
  rc=0
  bounded 120 "$O/prep-$name.log" "$B/bin/frost-prep" fashion-mnist --src "$B/data/fashion-mnist-small" \
    --out "$W/data/$name" --classes "$classes" || rc=$?
  if ((rc)); then prep_ok=0; record prep FAIL $(($(date +%s) - t0)) "task $name: $(why $rc "$O/prep-$name.log")"; break; fi
done
((prep_ok)) && record prep PASS $(($(date +%s) - t0)) "frost-prep: task A and B from $(ls "$B/data/fashion-mnist-small" | wc -l) IDX files"

cat >"$W/kit.ini" <<INI
[model]
backbone = resnet18
width = 16
small_input = true
[data]
train = $W/data/a/train.h5
test = $W/data/a/test.h5
batch_size = 32
eval_batch_size = 500
[train]
epochs = 1
seed = 0
[optim]
name = sgd
lr = 0.05
momentum = 0.9
[log]
every = 1
INI
T=$B/bin/frost-train
help=$W/frost-train-help.txt
"$T" --help >"$help" 2>&1 || true
gpu_keys_missing=""
for k in train.device dist.backend dist.shared_gpu train.precision; do
  grep -q -- "--$k" "$help" || gpu_keys_missing+="--$k "
done
# train NAME LIMIT NP ARGS...: a frost-train run into $W/runs/NAME (log OUTDIR/NAME.log).
train() {
  local name=$1 limit=$2 np=$3
  shift 3
  rm -rf "$W/runs/$name"
  bounded "$limit" "$O/$name.log" "$FROST_MPIRUN" -np "$np" "$@" --config "$W/kit.ini" \
    --log.dir "$W/runs/$name"
}
# compare_step NAME T0 REF: NAME's model.pt against REF's (relative to init); records the step.
compare_step() {
  local name=$1 t0=$2 ref=$3 rc=0 msg
  msg=$(timeout 120 "$PY" "$KIT/kit_check.py" compare "$W/runs/$name/model.pt" \
    "$W/runs/$ref/model.pt" "$W/runs/init/model.pt" "$tol" 2>&1) || rc=$?
  echo "$msg" >>"$O/$name.log"
  record "$name" "$( ((rc)) && echo FAIL || echo PASS)" $(($(date +%s) - t0)) "$(echo "$msg" | tail -1 | cut -c1-150)"
}
cpu_args=()
grep -q -- "--train.device" "$help" && cpu_args+=(--train.device cpu)
grep -q -- "--dist.backend" "$help" && cpu_args+=(--dist.backend mpi)
ref_ok=0
if ((!prep_ok)); then
  for s in init cpu-ref cpu-ref2 gpu-1 gpu-2; do record "$s" NOT-RUN 0 "no data (step prep)"; done
else
  t0=$(date +%s) rc=0
  train init 120 1 "$T" "${cpu_args[@]}" --train.max_steps 1 || rc=$?
  if ((rc)); then
    record init FAIL $(($(date +%s) - t0)) "$(why $rc "$O/init.log")"
    for s in cpu-ref cpu-ref2 gpu-1 gpu-2; do record "$s" NOT-RUN 0 "no starting point (step init)"; done
  else
    record init PASS $(($(date +%s) - t0)) "CPU, 1 rank, 1 step"
    common=(--model.init "$W/runs/init/model.pt" --train.max_steps 20 --data.test "")
    t0=$(date +%s) rc=0
    train cpu-ref 150 1 "$T" "${cpu_args[@]}" "${common[@]}" || rc=$?
    if ((rc)); then
      record cpu-ref FAIL $(($(date +%s) - t0)) "$(why $rc "$O/cpu-ref.log")"
    else
      ref_ok=1
      record cpu-ref PASS $(($(date +%s) - t0)) "CPU, 1 rank, batch 32, 20 steps (fp32)"
    fi
    t0=$(date +%s) rc=0 ref2_ok=0
    train cpu-ref2 150 2 "$T" "${cpu_args[@]}" "${common[@]}" --data.batch_size 16 || rc=$?
    if ((rc)); then
      record cpu-ref2 FAIL $(($(date +%s) - t0)) "$(why $rc "$O/cpu-ref2.log")"
    else
      ref2_ok=1
      record cpu-ref2 PASS $(($(date +%s) - t0)) "CPU, 2 ranks (MPI), batch 16 each, 20 steps (fp32)"
    fi
    if [[ -n $gpu_keys_missing ]]; then
      for s in gpu-1 gpu-2; do record "$s" NOT-RUN 0 "frost-train has no ${gpu_keys_missing% } (this build predates the GPU options)"; done
    else
      gpu=(--train.device cuda --dist.backend nccl --train.precision "$prec_c")
      t0=$(date +%s) rc=0
      ((ref_ok)) || rc=-1
      ((rc)) || train gpu-1 150 1 "$T" "${gpu[@]}" "${common[@]}" || rc=$?
      if ((rc == -1)); then record gpu-1 NOT-RUN 0 "no reference (step cpu-ref)"
      elif ((rc)); then record gpu-1 FAIL $(($(date +%s) - t0)) "$(why $rc "$O/gpu-1.log")"
      else compare_step gpu-1 "$t0" cpu-ref; fi
      # Two ranks on one GPU (docs/gpu.md): NCCL sees two hosts (NCCL_HOSTID per rank, set by
      # kit/rank_env.sh before NCCL starts) joined by its socket transport over loopback.
      t0=$(date +%s) rc=0
      ((ref2_ok)) || rc=-1
      ((rc)) || NCCL_SOCKET_IFNAME=lo NCCL_IB_DISABLE=1 NCCL_NET=Socket NCCL_MNNVL_ENABLE=0 NCCL_NVLS_ENABLE=0 \
        NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,NET,ENV \
        train gpu-2 240 2 "$KIT/rank_env.sh" "$T" "${gpu[@]}" --dist.shared_gpu true \
        "${common[@]}" --data.batch_size 16 || rc=$?
      if ((rc == -1)); then record gpu-2 NOT-RUN 0 "no reference (step cpu-ref2)"
      elif ((rc)); then
        n=""
        [[ $g_mode == *Default* ]] || n=" (compute mode '${g_mode# }': two processes on one GPU need Default)"
        record gpu-2 FAIL $(($(date +%s) - t0)) "$(why $rc "$O/gpu-2.log")$n"
      else compare_step gpu-2 "$t0" cpu-ref2; fi
    fi
  fi
fi

# ---- d: short bf16 fine-tunes of each strategy on task B --------------------------------------
for strategy in full head; do
  t0=$(date +%s) rc=0
  if [[ -n $gpu_keys_missing ]]; then
    record "$strategy" NOT-RUN 0 "frost-train has no ${gpu_keys_missing% }"; continue
  elif ((!ref_ok)); then
    record "$strategy" NOT-RUN 0 "no task-A backbone (step cpu-ref)"; continue
  fi
  train "$strategy" 150 1 "$T" --train.device cuda --dist.backend nccl \
    --train.precision bf16 --train.strategy "$strategy" --model.init "$W/runs/cpu-ref/model.pt" \
    --model.init_head false --data.train "$W/data/b/train.h5" --data.test "$W/data/b/test.h5" \
    --train.epochs 2 --data.batch_size 64 --log.every 5 || rc=$?
  if ((rc)); then record "$strategy" FAIL $(($(date +%s) - t0)) "$(why $rc "$O/$strategy.log")"; continue; fi
  msg=$(timeout 120 "$PY" "$KIT/kit_check.py" metrics "$W/runs/$strategy/metrics.jsonl" --gpu 2>&1) || rc=$?
  if ((rc == 0)) && [[ $strategy == head ]]; then
    m2=$(timeout 120 "$PY" "$KIT/kit_check.py" frozen "$W/runs/head/model.pt" "$W/runs/cpu-ref/model.pt" backbone. 2>&1) || rc=$?
    msg="$msg; ${m2#PASS: }"
  fi
  echo "$msg" >>"$O/$strategy.log"
  record "$strategy" "$( ((rc)) && echo FAIL || echo PASS)" $(($(date +%s) - t0)) "bf16, 2 epochs: $(echo "$msg" | tail -1 | sed 's/^PASS: //' | cut -c1-130)"
done

# ---- f: the benchmark harness ------------------------------------------------------------------
# bench/gpu.py --quick in what is left of the budget; its data and weights (hundreds of MB) go
# to $W/bench-scratch and are removed afterwards, its report and CSVs stay in OUTDIR/bench.
t0=$(date +%s)
l=$(left)
if [[ ! -f $B/bench/gpu.py ]]; then
  record bench NOT-RUN 0 "this bundle has no bench/gpu.py"
elif [[ -n $gpu_keys_missing ]]; then
  record bench NOT-RUN 0 "frost-train has no ${gpu_keys_missing% }"
elif ((l < 90)); then
  record bench NOT-RUN 0 "time budget spent ($l s left, 90 s needed)"
else
  rc=0
  FROST_NODE_PYTHON=$PY bounded "$l" "$O/bench.log" "$PY" "$B/bench/gpu.py" --quick --device cuda --no-docs \
    --outdir "$O/bench" --scratch "$W/bench-scratch" --bin "$B/bin" --budget-s $((l - 20)) || rc=$?
  rm -rf "$W/bench-scratch"
  verdict=$(grep '^gpu.py: ' "$O/bench.log" | tail -1 | sed 's/^gpu.py: //' | cut -c1-140 || true)
  if ((rc == 0)); then record bench PASS $(($(date +%s) - t0)) "${verdict#PASS: } (bench/report.md)"
  elif ((rc == 3)); then record bench NOT-RUN $(($(date +%s) - t0)) "${verdict#NOT-RUN: }"
  elif [[ -n $verdict ]]; then record bench FAIL $(($(date +%s) - t0)) "${verdict#FAIL: } (bench.log)"
  else record bench FAIL $(($(date +%s) - t0)) "$(why $rc "$O/bench.log")"; fi
fi

# ---- e: summary ----------------------------------------------------------------------------------
summary && exit 0 || exit 1
