#!/usr/bin/env bash
# F7 and invariant 8: a failing rank ends the whole job non-zero, within the timeout, with
# the rank and cause shown, and leaves no process behind. The GPU cases (G1, G2, G7 with NCCL)
# are test_gpu_faults.sh.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
make_data "$WORK/train.h5" --n 120 --dim 8 --classes 3
common=(--data.train "$WORK/train.h5" --model.backbone mlp --model.mlp_hidden 16 --data.batch_size 4
        --train.epochs 3 --train.threads 1 --dist.timeout_s 10 --log.level warn)

# run_fault NAME LIMIT_S ENV... : runs 3 ranks with the env, expects failure within LIMIT_S.
run_fault() {
  local name=$1 limit=$2; shift 2
  local dir="$WORK/$name" t0 t1
  t0=$(date +%s)
  if env "$@" timeout 120 "$FROST_MPIRUN" --quiet -np 3 "$T" "${common[@]}" --log.dir "$dir" \
       > "$WORK/$name.out" 2>&1; then
    fail "$name: the job exited 0"
  fi
  t1=$(date +%s)
  (( t1 - t0 <= limit )) || fail "$name: took $((t1 - t0)) s (limit $limit s)"
  # mpirun has returned; a rank may still be on its way out: allow it a few seconds.
  gone_within 10 pgrep -f -- "--log.dir $dir" > /dev/null || fail "$name: processes left behind"
  [[ ! -e "$dir/model.pt" ]] || fail "$name: a failed run wrote model.pt"
  echo "ok: $name ended in $((t1 - t0)) s"
}

# (a) rank 1 cannot read its data (injected at open, the same error path as an unreadable file)
run_fault open 60 FROST_FAULT_INJECT=rank=1,at=open
expect_in "$WORK/open.out" "frost-train: error: [rank 1] injected fault at open"

# (b) rank 0 throws at step 3
run_fault step3 60 FROST_FAULT_INJECT=rank=0,at=step:3
expect_in "$WORK/step3.out" "frost-train: error: [rank 0] injected fault at step:3"

# (c) rank 1 hangs at step 3: the others time out in the all-reduce (dist.timeout_s = 10)
run_fault hang 60 FROST_FAULT_INJECT=rank=1,at=step:3,action=hang
expect_in "$WORK/hang.out" "all_reduce(seq="
expect_in "$WORK/hang.out" "without completing (dist.timeout_s = 10)"

# (d) rank 1 runs out of memory at step 3 (G7 on the CPU: action=oom allocates 1 PiB through
# LibTorch's allocator): the job ends through rank 1's error, which names the step, the device
# and the allocation; no rank waited for the collective timeout.
run_fault oom 60 FROST_FAULT_INJECT=rank=1,at=step:3,action=oom
expect_in "$WORK/oom.out" "frost-train: error: [rank 1] step 3 (epoch 1) on cpu: "
expect_in "$WORK/oom.out" "you tried to allocate 1125899906842624 bytes"
if grep -q "without completing" "$WORK/oom.out"; then
  cat "$WORK/oom.out"
  fail "oom: a rank waited for the collective timeout"
fi

# (e) a real unreadable data file: truncated HDF5, named in the message
head -c 3000 "$WORK/train.h5" > "$WORK/broken.h5"
common[1]="$WORK/broken.h5"
run_fault broken 60
expect_in "$WORK/broken.out" "broken.h5"
