# Helpers for the end-to-end tests (sourced). FROST_BIN, FROST_SRC, FROST_MPIRUN come from ctest.
set -euo pipefail
: "${FROST_BIN:?run through ctest}" "${FROST_SRC:?run through ctest}" "${FROST_MPIRUN:?run through ctest}"
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/frost-e2e.XXXXXX")
trap '[[ -n "${FROST_KEEP_WORK:-}" ]] || rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# expect_in FILE TEXT: FILE contains TEXT (fixed string)
expect_in() { grep -qF -- "$2" "$1" || { echo "---- $1:" >&2; tail -40 "$1" >&2; fail "expected '$2' in $1"; }; }
make_data() { "$PY" "$FROST_SRC/tests/e2e/make_data.py" "$@"; }
train() { "$FROST_MPIRUN" --quiet "$@"; }
# one_step_run: $WORK/train.h5 (32 rows of 4 features, 2 classes) and $WORK/run.ini, a tiny MLP
# that trains one step: for tests of what happens around training (start-up, launchers).
one_step_run() {
  make_data "$WORK/train.h5" --n 32 --dim 4 --classes 2
  cat > "$WORK/run.ini" <<INI
[model]
backbone = mlp
mlp_hidden = 8
[data]
train = $WORK/train.h5
batch_size = 8
[train]
epochs = 1
max_steps = 1
INI
}
# wait_for_holds DIR N PID: waits until ranks 0..N-1 hold at a FROST_FAULT_INJECT action=hold
# site (their marker files DIR/held.R exist; Note [Holding a rank] in
# src/frost/core/fault_injection.h). Returns 1 when the job PID ends first, or after 600 s.
wait_for_holds() {
  local dir=$1 n=$2 pid=$3 i r held
  for ((i = 0; i < 6000; i++)); do
    held=0
    for ((r = 0; r < n; r++)); do [[ -f "$dir/held.$r" ]] && held=$((held + 1)); done
    (( held == n )) && return 0
    kill -0 "$pid" 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}
# line_timeline T0 FILE OUT PATTERN...: run in the background; writes to OUT, once each, "<s>
# s: PATTERN" when a line with PATTERN (a fixed string) first shows in FILE, <s> the seconds
# since T0 (date +%s.%N), polling every 0.1 s until killed. For a timing failure's message: it
# says which stage of an ending job took the time.
line_timeline() {
  local t0=$1 file=$2 out=$3 p
  shift 3
  local -A seen=()
  : > "$out"
  for (( ; ; )); do
    for p in "$@"; do
      if [[ -z "${seen[$p]:-}" ]] && grep -qF -- "$p" "$file" 2> /dev/null; then
        seen[$p]=1
        awk -v a="$t0" -v b="$(date +%s.%N)" -v p="$p" 'BEGIN { printf "%.1f s: %s\n", b - a, p }' >> "$out"
      fi
    done
    sleep 0.1
  done
}
# gone_within SECONDS COMMAND...: polls COMMAND (every 0.2 s) until it fails, i.e. what it looks
# for is gone; returns 1 if it still succeeds after SECONDS.
gone_within() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 5; i++)); do
    "$@" || return 0
    sleep 0.2
  done
  ! "$@"
}
