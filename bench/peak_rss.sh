#!/bin/sh
# peak_rss.sh PREFIX COMMAND [ARGS...]: run COMMAND (one MPI rank) under GNU time and write its
# peak resident set size in KiB (%M, the maximum RSS of the process) to PREFIX.RANK, RANK being
# OpenMPI's OMPI_COMM_WORLD_RANK (0 outside mpirun). Used by bench/common.py's mpirun() for every
# benchmark run, Frost and the peer alike, so that both are measured the same way:
#   launch/frost-mpirun -np 2 bench/peak_rss.sh runs/x/rss build/frost-train --config ...
prefix=$1
shift
exec /usr/bin/time -f %M -o "$prefix.${OMPI_COMM_WORLD_RANK:-0}" "$@"
