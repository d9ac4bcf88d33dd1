#!/usr/bin/env bash
# Threads per rank (Note [Threads per rank], src/frost/core/cpus.h) in the real binary: with
# train.threads = 0 a rank runs on the CPUs it may use (taskset stands in for a batch system's
# cpuset or a launcher's binding), divided among the local ranks that share them, capped by
# SLURM_CPUS_PER_TASK; the start-up line names the count and its source; a bad
# SLURM_CPUS_PER_TASK fails every rank with the variable and the rank named.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
command -v taskset > /dev/null || { echo "SKIP: taskset (util-linux) not found"; exit 77; }
one_step_run
# run NAME [env ...] -- LAUNCHER...: one training run; its stderr in $WORK/NAME.log
run() {
  local name=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$@" "$T" --config "$WORK/run.ini" --log.dir "$WORK/$name" > /dev/null 2> "$WORK/$name.log"
}
# The CPUs this test may use; the cases below need two of them.
cpus=$(taskset -pc $$ | sed 's/.*: //')
first=$(awk -F'[,-]' '{ print $1 }' <<< "$cpus")
two=$("$PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(",".join(map(str, c[:2])) if len(c) >= 2 else "")')

# 1 rank on one CPU: 1 thread, from the affinity.
run one -- taskset -c "$first" || { cat "$WORK/one.log"; fail "1 rank on 1 CPU"; }
expect_in "$WORK/one.log" "threads: 1 per rank, from CPU affinity: 1 CPU for this rank alone"
expect_in "$WORK/one.log" "1 threads/rank"
pass "1 rank on 1 CPU: 1 thread"

# train.threads wins over the affinity.
env taskset -c "$first" "$T" --config "$WORK/run.ini" --log.dir "$WORK/configured" --train.threads 3 \
  > /dev/null 2> "$WORK/configured.log" || { cat "$WORK/configured.log"; fail "train.threads = 3"; }
expect_in "$WORK/configured.log" "threads: 3 per rank, from train.threads"
pass "train.threads = 3 wins"

# A bad SLURM_CPUS_PER_TASK fails with the variable and the rank named.
rc=0
run badslurm SLURM_CPUS_PER_TASK=eight -- taskset -c "$first" || rc=$?
[[ $rc != 0 ]] || fail "SLURM_CPUS_PER_TASK=eight accepted"
expect_in "$WORK/badslurm.log" "SLURM_CPUS_PER_TASK='eight' is not a whole number >= 1"
expect_in "$WORK/badslurm.log" "rank 0 (host"
pass "SLURM_CPUS_PER_TASK=eight refused"

[[ -n $two ]] || { echo "SKIP: the rest needs 2 CPUs, this process may use $cpus"; exit 77; }
# 1 rank on two CPUs: 2 threads; SLURM_CPUS_PER_TASK=1 caps them to 1.
run two -- taskset -c "$two" || { cat "$WORK/two.log"; fail "1 rank on 2 CPUs"; }
expect_in "$WORK/two.log" "threads: 2 per rank, from CPU affinity: 2 CPUs for this rank alone"
run slurm1 SLURM_CPUS_PER_TASK=1 -- taskset -c "$two" || { cat "$WORK/slurm1.log"; fail "SLURM_CPUS_PER_TASK=1"; }
expect_in "$WORK/slurm1.log" "threads: 1 per rank, from SLURM_CPUS_PER_TASK=1 (CPU affinity: 2 CPUs for this rank alone)"
run slurm8 SLURM_CPUS_PER_TASK=8 -- taskset -c "$two" || { cat "$WORK/slurm8.log"; fail "SLURM_CPUS_PER_TASK=8"; }
expect_in "$WORK/slurm8.log" "threads: 2 per rank, from CPU affinity: 2 CPUs for this rank alone, below SLURM_CPUS_PER_TASK=8"
pass "1 rank on 2 CPUs: 2 threads; SLURM_CPUS_PER_TASK=1 caps to 1, =8 does not raise"

# 2 ranks that both see the same 2 CPUs (no binding): they share them, 1 thread each.
run shared -- taskset -c "$two" "$FROST_MPIRUN" --quiet -np 2 --bind-to none --oversubscribe ||
  { cat "$WORK/shared.log"; fail "2 ranks sharing 2 CPUs"; }
expect_in "$WORK/shared.log" "threads: 1 per rank, from CPU affinity: 2 CPUs shared by 2 local ranks"
# 2 ranks bound to one CPU each: each keeps its own.
run bound -- taskset -c "$two" "$FROST_MPIRUN" --quiet -np 2 --map-by core --bind-to core ||
  { cat "$WORK/bound.log"; fail "2 ranks bound to a CPU each"; }
expect_in "$WORK/bound.log" "threads: 1 per rank, from CPU affinity: 1 CPU for this rank alone"
pass "2 ranks: sharing 2 CPUs -> shared by 2 local ranks; bound -> 1 CPU each"
