#!/usr/bin/env bash
# frost-train under the environment srun gives its tasks, as far as a machine without Slurm
# daemons allows (docs/launch.md#slurm-srun):
#  (1) srun without PMIx (--mpi=none, or pmi2 with an OpenMPI that has no PMI-2 client, such as
#      Debian's 4.1.4): OpenMPI's MPI_Init refuses a direct launch, so the job fails at once,
#      non-zero, instead of running N one-rank jobs into the same log.dir;
#  (2) ranks that are PMIx clients (here of mpirun's daemon, under srun --mpi=pmix of
#      slurmstepd's: the same OpenMPI client code) with srun's per-task variables
#      (SLURM_STEP_ID and SLURM_NODELIST, which make a PMIx-less process refuse, SLURM_PROCID,
#      SLURM_LOCALID, SLURM_NTASKS, SLURM_CPUS_PER_TASK, ...): the job runs, rank and world size
#      come from MPI (Frost reads no SLURM_* variable for them), the threads follow
#      SLURM_CPUS_PER_TASK.
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
one_step_run
slurm=(SLURM_JOB_ID=4242 SLURM_JOBID=4242 SLURM_STEP_ID=0 SLURM_STEPID=0 SLURM_NODELIST="$(hostname)"
       SLURM_NTASKS=2 SLURM_STEP_NUM_TASKS=2 SLURM_CPUS_PER_TASK=1 SLURM_PROCID=1 SLURM_LOCALID=1)

# ---- (1) a direct launch without a PMIx server: refused at once
t0=$(date +%s)
rc=0
env "${slurm[@]}" timeout 60 "$T" --config "$WORK/run.ini" --log.dir "$WORK/direct" > "$WORK/direct.out" 2>&1 || rc=$?
t1=$(date +%s)
[[ $rc != 0 && $rc != 124 ]] || { cat "$WORK/direct.out"; fail "direct launch without PMIx exited $rc"; }
expect_in "$WORK/direct.out" 'direct launched using "srun"'
(( t1 - t0 < 30 )) || fail "the refused direct launch took $((t1 - t0)) s"
[[ ! -e $WORK/direct/model.pt ]] || fail "the refused direct launch trained"
pass "srun without PMIx: OpenMPI refuses in MPI_Init, exit $rc after $((t1 - t0)) s"

# ---- (2) PMIx clients with srun's per-task variables: SLURM_PROCID/SLURM_LOCALID per rank, as
# srun sets them, from the launcher's own numbering. Only the ranks get them: mpirun itself
# would take SLURM_JOB_ID for an allocation to read its nodes from.
{
  echo '#!/usr/bin/env bash'
  printf 'export %q\n' "${slurm[@]}"
  echo 'export SLURM_PROCID=$OMPI_COMM_WORLD_RANK SLURM_LOCALID=$OMPI_COMM_WORLD_LOCAL_RANK'
  echo 'exec "$@"'
} > "$WORK/as_srun_task.sh"
chmod +x "$WORK/as_srun_task.sh"
"$FROST_MPIRUN" --quiet -np 2 --bind-to none --oversubscribe "$WORK/as_srun_task.sh" \
  "$T" --config "$WORK/run.ini" --log.dir "$WORK/pmix" > /dev/null 2> "$WORK/pmix.log" ||
  { cat "$WORK/pmix.log"; fail "2 PMIx ranks with srun's variables"; }
expect_in "$WORK/pmix.log" "rank 0 -> host"
expect_in "$WORK/pmix.log" "rank 1 -> host"
expect_in "$WORK/pmix.log" "global batch 16 = 2 ranks x 8 micro-batch"
expect_in "$WORK/pmix.log" "threads: 1 per rank, from SLURM_CPUS_PER_TASK=1"
[[ -s $WORK/pmix/model.pt ]] || fail "no model.pt"
pass "2 PMIx ranks with srun's variables: ranks 0 and 1 of 2 from MPI, threads from SLURM_CPUS_PER_TASK"
