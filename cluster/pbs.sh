#!/bin/bash
# Frost on PBS Pro / OpenPBS (Torque: see the note below): one frost-train rank per group of
# CPU cores, over one or more nodes, started with OpenMPI's mpirun.
#
#   qsub cluster/pbs.sh
#   qsub -v CONFIG=configs/my-job.ini,RANKS_PER_NODE=4,THREADS=8 cluster/pbs.sh
#   qsub -v FROST_ARGS="--train.epochs 3" cluster/pbs.sh       # frost-train overrides
#
# Submit from the repository root (or pass FROST_DIR): config, data and model.init paths in the
# INI file are relative to it. Every rank opens data.train / data.test / model.init itself, so
# they must be on a file system that every node sees at the same path; log.dir is written by
# rank 0 only.
#
# Resources: `select` chunks = nodes; keep ncpus = RANKS_PER_NODE x THREADS.
# Torque instead: #PBS -l nodes=2:ppn=32 (the script derives the node list the same way).
#PBS -N frost
#PBS -l select=2:ncpus=32:mpiprocs=4
#PBS -l walltime=01:00:00
#PBS -j oe
# #PBS -q ...          # site specific
# #PBS -A ...          # site specific

set -euo pipefail

cd "${FROST_DIR:-$PBS_O_WORKDIR}"
CONFIG=${CONFIG:-configs/fashion-mnist-b-head.ini}
FROST_TRAIN=${FROST_TRAIN:-build/frost-train}
ranks_per_node=${RANKS_PER_NODE:-4}     # ranks on each node
threads=${THREADS:-8}                   # cores (= intra-op threads) per rank
job_id=${PBS_JOBID%%.*}

# One line per node with its rank slots, whatever the PBS flavour wrote into $PBS_NODEFILE
# (PBS Pro: one line per MPI process; Torque: one line per core).
hostfile=$(mktemp "${TMPDIR:-/tmp}/frost-hosts.XXXXXX")
trap 'rm -f "$hostfile"' EXIT
sort -u "$PBS_NODEFILE" | sed "s/\$/ slots=$ranks_per_node/" > "$hostfile"
nodes=$(wc -l < "$hostfile")
np=$((nodes * ranks_per_node))

# frost-train sets LibTorch's thread count from --train.threads; these cap the thread pools of
# the libraries below it (OpenMP, OpenBLAS). Ranks on other nodes see only what -x forwards.
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
forward=(-x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS)
if [[ -n "${SPDLOG_LEVEL:-}" ]]; then forward+=(-x SPDLOG_LEVEL); fi   # overrides log.level

# A fresh run directory per job: frost-train refuses to overwrite a finished run.
run_dir=${RUN_DIR:-runs/$(basename "$CONFIG" .ini)-$job_id}

echo "frost: $np ranks on $nodes node(s), $threads threads/rank, config $CONFIG, log.dir $run_dir"

# ppr:<ranks>:node places RANKS_PER_NODE ranks per node; PE=<threads> binds each to its own
# <threads> cores. --report-bindings prints the placement at start-up.
# shellcheck disable=SC2086  # FROST_ARGS is split into words on purpose
mpirun -np "$np" --hostfile "$hostfile" \
  --map-by "ppr:${ranks_per_node}:node:PE=${threads}" --bind-to core --report-bindings \
  "${forward[@]}" \
  "$FROST_TRAIN" --config "$CONFIG" --train.threads "$threads" --log.dir "$run_dir" ${FROST_ARGS:-}
