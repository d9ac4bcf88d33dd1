#!/usr/bin/env bash
# The two-node runs of the scaling model's check (docs/benchmarks.md, "Beyond one GPU"), on one
# machine: two network namespaces joined by a veth pair (tests/e2e/netns.sh, as the two-node
# test uses them), one rank in each, MPI over TCP between them. Measures the link with
# frost-bench allreduce and repeats the 2-rank runs of `scaling_model.py --check-cpu` (their
# exact frost-train command, read from the first line of their run.log) across the two
# "nodes", with the bucket timeline. Then
#   python3 bench/scaling_model.py --check-cpu --two-nodes [--doc docs/benchmarks.md]
# compares the model's prediction with them. Needs root (ip netns); run --check-cpu first.
#
#   bash bench/scaling_model_two_nodes.sh [WORK]   (WORK: the check's directory, runs/scaling_model)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export FROST_SRC=$ROOT FROST_BIN=$ROOT/${FROST_BUILD_DIR:-build} FROST_MPIRUN=$ROOT/launch/frost-mpirun
source tests/e2e/lib.sh
source tests/e2e/netns.sh
if ! netns_available; then
  echo "scaling_model_two_nodes: needs root, ip (iproute2) and unshare" >&2
  exit 77
fi
OUT=$ROOT/${1:-runs/scaling_model}
[[ -d "$OUT" ]] || fail "$OUT does not exist: run python3 bench/scaling_model.py --check-cpu first"
netns_up

echo "frost-bench allreduce, one rank per node"
netns_mpirun 1 "$FROST_BIN/frost-bench" allreduce --min-bytes 1K --max-bytes 64M \
  --csv "$OUT/allreduce-2nodes.csv" | tail -12

for two in "$OUT"/*-np2-frost; do
  tag=$(basename "$two" -np2-frost)
  dir=$OUT/$tag-2nodes-frost
  mkdir -p "$dir"
  # The 2-rank run's frost-train command with its own log.dir (paths in it are relative to ROOT).
  mapfile -t cmd < <("$PY" - "$two/run.log" "$dir" <<'EOF'
import shlex, sys
words = shlex.split(open(sys.argv[1]).readline())
cmd = words[next(i for i, w in enumerate(words) if w.endswith("frost-train")):]
cmd[cmd.index("--log.dir") + 1] = sys.argv[2]
print("\n".join(cmd))
EOF
)
  echo "$tag: ${cmd[*]}"
  netns_mpirun 1 "${cmd[@]}" > "$dir/run.log" 2>&1 || { tail -20 "$dir/run.log"; fail "$tag on two nodes"; }
done
echo "done: python3 bench/scaling_model.py --check-cpu --two-nodes"
