#!/usr/bin/env bash
# Preemption and requeue (docs/reliability.md): a 2-rank job that gets SIGUSR1 or SIGTERM stops
# at the next step boundary with a checkpoint and exits with status 75 through frost-mpirun;
# --resume auto then ends with the model.pt of an uninterrupted run, byte for byte, and with
# every step in metrics.jsonl exactly once (no work lost). The signal comes at a known point:
# every rank holds before step N (FROST_FAULT_INJECT action=hold), the test signals, waits for
# the line each signalled rank's handler writes, and releases the ranks, so the job stops after
# step N exactly. Cases: one rank signalled directly (mid-epoch); SIGTERM to frost-mpirun (which
# passes SIGUSR1 to mpirun) at an epoch's last step, so after its evaluation, with more signals
# sent to the ranks while the checkpoint is written; cluster/slurm.sbatch run as Slurm would run
# it, with stand-ins for srun and scontrol: SIGUSR1 to the batch shell (--signal=B:USR1), exit
# 75, `scontrol requeue`, and the requeued start continuing from the checkpoint.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
# A failed check must not leave ranks holding forever: release them (they then end), then clean up.
trap 'for h in "$WORK"/hold-*; do [[ -d "$h" ]] && touch "$h/release"; done
      [[ -n "${FROST_KEEP_WORK:-}" ]] || rm -rf "$WORK"' EXIT
make_data "$WORK/train.h5" --n 64 --dim 8 --classes 3
make_data "$WORK/test.h5" --n 24 --dim 8 --classes 3 --seed 5
# 64 samples / (2 ranks x 4) = 8 steps per epoch, 3 epochs: 24 steps.
common=(--data.train "$WORK/train.h5" --data.test "$WORK/test.h5" --model.backbone mlp
        --model.mlp_hidden 16,16 --data.batch_size 4 --train.epochs 3 --train.threads 1
        --optim.name adamw --optim.lr 0.01 --optim.warmup_steps 3)

train -np 2 "$T" "${common[@]}" --log.dir "$WORK/a" > "$WORK/a.out" 2>&1 || { cat "$WORK/a.out"; fail "run A"; }

# rank_pid HOLD_DIR R: the pid of this test's frost-train rank R (found by its environment).
rank_pid() {
  local p
  for p in $(pgrep -x frost-train); do
    if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "FROST_FAULT_HOLD_DIR=$1" &&
       tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
# wait_for_line FILE TEXT PID: until FILE holds TEXT; 1 when the job PID ends first or after 60 s.
wait_for_line() {
  local i
  for ((i = 0; i < 600; i++)); do
    grep -qF -- "$2" "$1" && return 0
    kill -0 "$3" 2> /dev/null || { grep -qF -- "$2" "$1"; return; }
    sleep 0.1
  done
  return 1
}
# check_resumed RUN OUT: --resume auto finishes with A's model.pt and every step exactly once.
check_resumed() {
  train -np 2 "$T" "${common[@]}" --log.dir "$WORK/$1" --resume auto > "$WORK/$2" 2>&1 \
    || { cat "$WORK/$2"; fail "resume of $1"; }
  expect_in "$WORK/$2" "resumed from"
  cmp "$WORK/a/model.pt" "$WORK/$1/model.pt" || fail "$1: resumed model.pt differs from the uninterrupted run's"
  "$PY" - "$WORK/a/metrics.jsonl" "$WORK/$1/metrics.jsonl" <<'PY' || fail "$1: metrics differ"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
ta = [r for r in a if r["kind"] == "train"]
tb = [r for r in b if r["kind"] == "train"]
# A preempted run loses no step: each appears once, unlike after a kill (test_resume.sh).
assert [r["step"] for r in tb] == list(range(1, 25)), [r["step"] for r in tb]
for x, y in zip(ta, tb):
    assert x["lr"] == y["lr"] and x["loss"] == y["loss"], x["step"]
ea = [r for r in a if r["kind"] == "eval"]
eb = [r for r in b if r["kind"] == "eval"]
assert ea == eb and len(ea) == 3, (ea, eb)  # evaluations and model selection as in A
PY
}

# ---- one rank signalled (SIGUSR1 to rank 1 only), before step 6: both ranks stop after step 6
hold="$WORK/hold-b"
mkdir -p "$hold"
FROST_FAULT_INJECT='rank=*,at=step:6,action=hold' FROST_FAULT_HOLD_DIR="$hold" \
  "$FROST_MPIRUN" --quiet -np 2 "$T" "${common[@]}" --log.dir "$WORK/b" > "$WORK/b1.out" 2>&1 &
job=$!  # frost-mpirun itself (not a subshell running it): it gets the signals below
wait_for_holds "$hold" 2 "$job" || { cat "$WORK/b1.out"; fail "the ranks did not hold at step 6"; }
pid1=$(rank_pid "$hold" 1) || fail "rank 1's process not found"
kill -USR1 "$pid1"
wait_for_line "$WORK/b1.out" "frost-train: [rank 1] received SIGUSR1" "$job" || { cat "$WORK/b1.out"; fail "rank 1 did not report the signal"; }
touch "$hold/release"
rc=0
wait "$job" || rc=$?
[[ $rc == 75 ]] || { cat "$WORK/b1.out"; fail "preempted job exited $rc, expected 75"; }
expect_in "$WORK/b1.out" "preemption: a stop was requested on 1 of 2 rank(s); every rank stops after step 6"
expect_in "$WORK/b1.out" "preemption: stopped after step 6"
grep -qx "step-000000006.pt" "$WORK/b/checkpoints/latest" || fail "latest is not the step-6 checkpoint"
[[ ! -e "$WORK/b/model.pt" ]] || fail "the preempted run wrote model.pt"
if grep -q "frost-train: error" "$WORK/b1.out"; then fail "the preempted run reported an error"; fi
check_resumed b b2.out
pass "SIGUSR1 to rank 1 alone: both ranks stop after step 6, exit 75; resumed == uninterrupted"

# ---- SIGTERM to frost-mpirun before step 8, the last of epoch 1: the evaluation runs, then the
# checkpoint; the ranks get more signals (and frost-mpirun a second SIGTERM) until the job ends.
hold="$WORK/hold-c"
mkdir -p "$hold"
FROST_FAULT_INJECT='rank=*,at=step:8,action=hold' FROST_FAULT_HOLD_DIR="$hold" \
  "$FROST_MPIRUN" --quiet -np 2 "$T" "${common[@]}" --log.dir "$WORK/c" > "$WORK/c1.out" 2>&1 &
job=$!
wait_for_holds "$hold" 2 "$job" || { cat "$WORK/c1.out"; fail "the ranks did not hold at step 8"; }
pids=("$(rank_pid "$hold" 0)" "$(rank_pid "$hold" 1)")
kill -TERM "$job"
for r in 0 1; do
  wait_for_line "$WORK/c1.out" "frost-train: [rank $r] received SIGUSR1" "$job" || { cat "$WORK/c1.out"; fail "rank $r did not get SIGUSR1 from frost-mpirun's SIGTERM"; }
done
touch "$hold/release"
sent=0
while kill -0 "$job" 2> /dev/null; do
  kill -USR1 "${pids[@]}" 2> /dev/null || true
  kill -TERM "${pids[@]}" 2> /dev/null || true
  (( sent == 5 )) && { kill -TERM "$job" 2> /dev/null || true; }
  sent=$((sent + 1))
  sleep 0.02
done
rc=0
wait "$job" || rc=$?
[[ $rc == 75 ]] || { cat "$WORK/c1.out"; fail "job sent SIGTERM exited $rc, expected 75"; }
grep -qx "step-000000008.pt" "$WORK/c/checkpoints/latest" || fail "latest is not the step-8 checkpoint"
grep -q '"kind": *"eval"' "$WORK/c/metrics.jsonl" || fail "no evaluation before the epoch-end stop"
if ls "$WORK/c/checkpoints" | grep -q tmp; then fail "a temporary checkpoint file was left"; fi
check_resumed c c2.out
pass "SIGTERM to frost-mpirun at an epoch's end, more signals during the checkpoint: exit 75 after the evaluation; resumed == uninterrupted ($sent signal rounds)"

# ---- cluster/slurm.sbatch under stand-ins for srun (frost-mpirun with SLURM_NTASKS ranks) and
# scontrol (records its arguments): SIGUSR1 to the batch shell, exit 75 and a requeue; the
# requeued start (same job id, so the same log.dir) continues with --resume auto.
mkdir -p "$WORK/bin" "$WORK/slurm"
cat > "$WORK/bin/srun" <<EOF
#!/usr/bin/env bash
while [[ \$# -gt 0 && \$1 == -* ]]; do shift; done  # srun's own options (all --key=value here)
exec "$FROST_MPIRUN" --quiet -np "\$SLURM_NTASKS" "\$@"
EOF
cat > "$WORK/bin/scontrol" <<EOF
#!/usr/bin/env bash
echo "\$*" >> "$WORK/scontrol.log"
EOF
chmod +x "$WORK/bin/srun" "$WORK/bin/scontrol"
echo "# all settings on the command line" > "$WORK/slurm/job.ini"
hold="$WORK/hold-d"
mkdir -p "$hold"
slurm_args=()  # common less --train.threads, which the script sets from SLURM_CPUS_PER_TASK
for ((i = 0; i < ${#common[@]}; i++)); do
  if [[ ${common[i]} == --train.threads ]]; then i=$((i + 1)); else slurm_args+=("${common[i]}"); fi
done
slurm_env=(PATH="$WORK/bin:$PATH" FROST_DIR="$WORK/slurm" CONFIG="$WORK/slurm/job.ini" FROST_TRAIN="$T"
           RUN_DIR="$WORK/d" SLURM_JOB_ID=4242 SLURM_NTASKS=2 SLURM_JOB_NUM_NODES=1 SLURM_CPUS_PER_TASK=1)
env "${slurm_env[@]}" FROST_FAULT_INJECT='rank=*,at=step:13,action=hold' FROST_FAULT_HOLD_DIR="$hold" \
  bash "$FROST_SRC/cluster/slurm.sbatch" "${slurm_args[@]}" > "$WORK/d1.out" 2>&1 &
job=$!
wait_for_holds "$hold" 2 "$job" || { cat "$WORK/d1.out"; fail "the ranks did not hold at step 13"; }
kill -USR1 "$job"  # what --signal=B:USR1@120 does
for r in 0 1; do
  wait_for_line "$WORK/d1.out" "frost-train: [rank $r] received SIGUSR1" "$job" || { cat "$WORK/d1.out"; fail "rank $r did not get the batch shell's SIGUSR1"; }
done
touch "$hold/release"
rc=0
wait "$job" || rc=$?
[[ $rc == 75 ]] || { cat "$WORK/d1.out"; fail "the batch script exited $rc, expected 75"; }
expect_in "$WORK/d1.out" "frost: SIGUSR1 received; asking the ranks to checkpoint and stop"
expect_in "$WORK/d1.out" "requeueing job 4242"
grep -qx "requeue 4242" "$WORK/scontrol.log" || fail "the batch script did not call scontrol requeue 4242"
grep -qx "step-000000013.pt" "$WORK/d/checkpoints/latest" || fail "latest is not the step-13 checkpoint"
env "${slurm_env[@]}" SLURM_RESTART_COUNT=1 bash "$FROST_SRC/cluster/slurm.sbatch" "${slurm_args[@]}" \
  > "$WORK/d2.out" 2>&1 || { cat "$WORK/d2.out"; fail "the requeued batch script failed"; }
expect_in "$WORK/d2.out" "resumed from"
[[ $(wc -l < "$WORK/scontrol.log") == 1 ]] || fail "the finished job was requeued again"
cmp "$WORK/a/model.pt" "$WORK/d/model.pt" || fail "the requeued job's model.pt differs from the uninterrupted run's"
pass "slurm.sbatch: SIGUSR1 to the batch shell -> exit 75 + scontrol requeue; the requeued job ends == uninterrupted"
