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
