#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, one after the other, on an otherwise idle machine:
#   bash bench/all.sh
# 1. all-reduce sweep (frost-bench allreduce, 2 ranks), printed;
# 2. loader efficiency (bench/loader.sh), printed;
# 3. scaling, 1/2/4 ranks x {full, head} x {ResNet, BERT}, Frost and PyTorch DDP side by side
#    (bench/scaling.py: rewrites its region of docs/benchmarks.md);
# 4. the hardware's ceiling for every multi-rank scaling cell: N independent 1-rank runs at once
#    (bench/ceiling.py: rewrites its region);
# 5. CPU MFU, all-reduce overlap over a bucket-size sweep, feature cache (bench/efficiency.py:
#    rewrites its region).
# Installs what is missing and builds first (launch/setup.sh). Takes about 45 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build=${FROST_BUILD_DIR:-build}
launch/frost-mpirun -np 2 "$build/frost-bench" allreduce --min-bytes 8 --max-bytes 64M
bash bench/loader.sh
/usr/bin/python3 bench/scaling.py --no-setup
/usr/bin/python3 bench/ceiling.py
/usr/bin/python3 bench/efficiency.py --no-setup
