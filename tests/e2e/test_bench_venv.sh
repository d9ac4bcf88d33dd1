#!/usr/bin/env bash
# The bench drivers run in the project's venv as launch/setup.sh and the launch/ tools find it:
# $FROST_VENV, else .cache/venv. Each driver that re-executes itself (bench/common.py's drivers
# and bench/gpu.py), started by a python3 outside that venv (/usr/bin/python3 -S), must re-run
# itself with $FROST_VENV/bin/python -- here a stand-in that prints its arguments and exits.
source "$(dirname "$0")/lib.sh"
venv=$WORK/venv
mkdir -p "$venv/bin"
printf '#!/bin/sh\necho "stand-in venv python: $*"\n' > "$venv/bin/python"
chmod +x "$venv/bin/python"
n=0
for driver in ceiling efficiency gpu pretrained_transfer scaling strategies throughput; do
  script=$FROST_SRC/bench/$driver.py
  FROST_VENV=$venv /usr/bin/python3 -S "$script" --help > "$WORK/$driver.out" 2>&1 || true
  expect_in "$WORK/$driver.out" "stand-in venv python: $script --help"
  n=$((n + 1))
done
pass "$n bench drivers re-run themselves with \$FROST_VENV/bin/python"
