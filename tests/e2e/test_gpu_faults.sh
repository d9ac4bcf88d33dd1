#!/usr/bin/env bash
# The GPU field cases G1, G2 and G7 for whole frost-train jobs on CUDA with NCCL (docs/design.md,
# "Invariants and the tests that prove them"; their CPU counterparts are in test_faults.sh). Two
# ranks share one GPU (dist.shared_gpu, Note [Ranks sharing a GPU under NCCL]) unless a case says
# otherwise; every case requires a non-zero exit, the expected message, no process left behind
# and no model.pt:
#   hang (G1)  dist.timeout_s = 5; rank 1 stops before step 3 and never goes on (action=hold,
#              never released): rank 0's NCCL watchdog names the collective, its sequence
#              number and bytes, aborts the communicator and ends the job, within the timeout
#              + 15 s of rank 1 stopping (the watchdog's abort grace kNcclAbortGrace = 10 s, and
#              the teardown of the job);
#   oom (G7)   rank 1 allocates more memory than its GPU has at step 3 (action=oom): the job ends
#              through rank 1's error, naming rank, step, device and the allocation, well within
#              the timeout (no rank waited for it: no "without completing" line);
#   one_gpu (G2)  2 local ranks, one visible device (CUDA_VISIBLE_DEVICES = its first device),
#              dist.shared_gpu off: the start-up error names the host, the ranks, their local
#              ranks and the devices they see, and comes before any NCCL call (with
#              NCCL_DEBUG=INFO, NCCL prints nothing; never its "Duplicate GPU detected").
# Without a CUDA device that frost-train can use, or without the NCCL backend, it exits 77
# (ctest: skipped) saying why. The data are IDX files written here (no Python needed on a GPU
# node), converted by frost-prep.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
skip() { echo "SKIP: $*"; exit 77; }
[[ ${FROST_HAVE_NCCL:-OFF} == ON ]] || skip "this build has no NCCL backend (FROST_WITH_CUDA=OFF)"

# ---- data: 120 training and 24 test images of 28 x 28 random pixels, labels i mod 3
be32() {  # be32 N: N as 4 big-endian bytes
  printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
    $(($1 >> 8 & 255)) $(($1 & 255)))"
}
write_idx() {  # write_idx DIR SPLIT N
  local dir=$1 split=$2 n=$3 i
  { be32 $((0x803)); be32 "$n"; be32 28; be32 28; head -c $((n * 784)) /dev/urandom; } \
    > "$dir/$split-images-idx3-ubyte"
  { be32 $((0x801)); be32 "$n"; for ((i = 0; i < n; i++)); do printf "\\x0$((i % 3))"; done; } \
    > "$dir/$split-labels-idx1-ubyte"
}
mkdir -p "$WORK/idx"
write_idx "$WORK/idx" train 120
write_idx "$WORK/idx" t10k 24
"$FROST_BIN/frost-prep" fashion-mnist --src "$WORK/idx" --out "$WORK/data" --classes 0-2 \
  > "$WORK/prep.out" 2>&1 || { cat "$WORK/prep.out"; fail "frost-prep failed"; }
common=(--data.train "$WORK/data/train.h5" --model.backbone mlp --model.mlp_hidden 16
        --data.batch_size 4 --train.epochs 3 --train.threads 1 --log.level warn
        --train.device cuda --dist.backend nccl)

# ---- a CUDA device for frost-train, or skip
if ! train -np 1 "$T" "${common[@]}" --train.max_steps 1 --log.dir "$WORK/probe" \
     > "$WORK/probe.out" 2>&1; then
  if grep -q "has no CUDA device visible to this process" "$WORK/probe.out"; then
    skip "$(grep -o 'host .* has no CUDA device visible to this process' "$WORK/probe.out" | head -1)"
  fi
  cat "$WORK/probe.out"
  fail "a 1-rank GPU run failed"
fi
pass "probe: a 1-rank run on CUDA with NCCL"

# done_within NAME LIMIT_S T0_NS T1_NS: the job of case NAME took at most LIMIT_S seconds.
done_within() {
  local ms=$((($4 - $3) / 1000000))
  ((ms <= $2 * 1000)) || fail "$1: took $ms ms (limit $2 s)"
  echo "$ms"
}
# after_job NAME DIR: no process of the job is left, and the failed run wrote no model.pt.
after_job() {
  gone_within 10 pgrep -f -- "--log.dir $2" > /dev/null || fail "$1: processes left behind"
  [[ ! -e "$2/model.pt" ]] || fail "$1: a failed run wrote model.pt"
}

# ---- hang (G1)
dir=$WORK/hang
mkdir -p "$WORK/hold"
FROST_FAULT_INJECT=rank=1,at=step:3,action=hold FROST_FAULT_HOLD_DIR=$WORK/hold \
  timeout 120 "$FROST_MPIRUN" --quiet -np 2 "$T" "${common[@]}" --dist.shared_gpu true \
  --dist.timeout_s 5 --log.dir "$dir" > "$WORK/hang.out" 2>&1 &
pid=$!
for ((i = 0; i < 1200; i++)); do  # rank 1's marker, at most 120 s
  [[ -f $WORK/hold/held.1 ]] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
t_hold=$(date +%s%N)
[[ -f $WORK/hold/held.1 ]] || { cat "$WORK/hang.out"; fail "hang: rank 1 never reached step 3"; }
rc=0
wait "$pid" || rc=$?
t_end=$(date +%s%N)
((rc != 0)) || fail "hang: the job exited 0"
((rc != 124)) || { cat "$WORK/hang.out"; fail "hang: the job was still running after 120 s"; }
ms=$(done_within hang 20 "$t_hold" "$t_end")
after_job hang "$dir"
expect_in "$WORK/hang.out" "frost-train: error: [rank 0] all_reduce(seq="
grep -qE 'all_reduce\(seq=[0-9]+, bytes=[0-9]+\) waited [0-9]+ ms without completing \(dist\.timeout_s = 5\)' \
  "$WORK/hang.out" || { cat "$WORK/hang.out"; fail "hang: no line naming the collective, seq and bytes"; }
expect_in "$WORK/hang.out" "the NCCL watchdog aborted the communicator"
pass "hang: every rank ended $ms ms after rank 1 stopped (dist.timeout_s = 5), rank 0's watchdog named the all-reduce"

# ---- oom (G7)
dir=$WORK/oom
t0=$(date +%s%N)
rc=0
FROST_FAULT_INJECT=rank=1,at=step:3,action=oom timeout 120 "$FROST_MPIRUN" --quiet -np 2 "$T" \
  "${common[@]}" --dist.shared_gpu true --dist.timeout_s 60 --log.dir "$dir" \
  > "$WORK/oom.out" 2>&1 || rc=$?
t1=$(date +%s%N)
((rc != 0)) || fail "oom: the job exited 0"
ms=$(done_within oom 45 "$t0" "$t1")
after_job oom "$dir"
expect_in "$WORK/oom.out" "frost-train: error: [rank 1] step 3 (epoch 1) on cuda:"
# LibTorch's words for the size (1 PiB: "1048576.00 GiB"), matched loosely.
grep -qE 'CUDA out of memory\. Tried to allocate [0-9.]+ [KMGT]iB' "$WORK/oom.out" \
  || { cat "$WORK/oom.out"; fail "oom: the error does not name the allocation"; }
if grep -q "without completing" "$WORK/oom.out"; then
  cat "$WORK/oom.out"
  fail "oom: a rank waited for the collective timeout instead of the job ending at once"
fi
pass "oom: the job ended in $ms ms with rank 1's out-of-memory error naming step, device and size"

# ---- one_gpu (G2)
dir=$WORK/one-gpu
first=${CUDA_VISIBLE_DEVICES:-0}
first=${first%%,*}
rc=0
CUDA_VISIBLE_DEVICES=$first NCCL_DEBUG=INFO timeout 120 "$FROST_MPIRUN" --quiet -np 2 "$T" \
  "${common[@]}" --log.dir "$dir" > "$WORK/one-gpu.out" 2>&1 || rc=$?
((rc != 0)) || fail "one_gpu: 2 ranks on one GPU without dist.shared_gpu were accepted"
after_job one_gpu "$dir"
expect_in "$WORK/one-gpu.out" "frost-train: error: [rank "
grep -qE 'ranks 0 and 1 on host [^ ]+ would both use the GPU ' "$WORK/one-gpu.out" \
  || { cat "$WORK/one-gpu.out"; fail "one_gpu: the error does not name the ranks and the host"; }
expect_in "$WORK/one-gpu.out" "rank 0: local rank 0 of 2, 1 visible CUDA device (CUDA_VISIBLE_DEVICES=$first)"
expect_in "$WORK/one-gpu.out" "rank 1: local rank 1 of 2, 1 visible CUDA device (CUDA_VISIBLE_DEVICES=$first)"
if grep -qE 'NCCL INFO|Duplicate GPU' "$WORK/one-gpu.out"; then
  cat "$WORK/one-gpu.out"
  fail "one_gpu: NCCL was called before the placement check"
fi
pass "one_gpu: refused at start-up, before any NCCL call, naming host, ranks and visible devices"
