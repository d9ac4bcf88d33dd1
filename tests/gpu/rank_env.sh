#!/usr/bin/env bash
# rank_env.sh PROGRAM ARGS...: runs PROGRAM with NCCL_HOSTID set per MPI rank, so that NCCL
# takes ranks sharing one GPU for ranks on different hosts (NCCL hashes NCCL_HOSTID instead of
# host name and boot id, once, before its first call; docs/gpu.md, step gpu-2). Tests only.
set -euo pipefail
case "${1:-}" in -h|--help|"") sed -n '2,4p' "$0" | sed 's/^# //'; exit 0 ;; esac
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-}}}
[[ -n $rank ]] || { echo "rank_env.sh: no MPI rank in the environment (start it with mpirun)" >&2; exit 2; }
export NCCL_HOSTID=frost-kit-rank-$rank
exec "$@"
