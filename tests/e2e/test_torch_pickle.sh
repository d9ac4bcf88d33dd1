#!/usr/bin/env bash
# End-to-end test of Frost's torch.save reader on files PyTorch itself writes:
#   1. tests/fixtures/make_torch_pickle_fixtures.py (FROST_PYTHON: torch + torchvision) writes a
#      torchvision ResNet-18 state_dict() (.pth, an OrderedDict with _metadata), a Hugging
#      Face-like pytorch_model.bin (bf16/fp16, tied weights, views of one storage, an
#      nn.Parameter), the same with pickle protocol 4, a nested checkpoint and a legacy
#      (non-zip) file, each with a plain-dict reference copy;
#   2. frost_unit_models_tests --gtest_filter='TorchPickleFixtures.*' with FROST_TORCH_PICKLE_DIR
#      set compares Frost's values with LibTorch's reading of the references, value for value,
#      loads the ResNet-18 into Frost's model, and checks the errors (legacy file, nested keys,
#      the all-or-nothing key report). Every test must run and pass: a skipped one fails here.
# Environment (from ctest): FROST_BIN (build directory), FROST_SRC (source root), FROST_PYTHON.
set -euo pipefail
: "${FROST_BIN:?set FROST_BIN to the build directory}" "${FROST_SRC:?set FROST_SRC to the source root}"
PY=${FROST_PYTHON:-python3}
UNIT="$FROST_BIN/tests/frost_unit_models_tests"
[[ -x "$UNIT" ]] || { echo "FAIL: $UNIT is not an executable (build the frost_unit_models_tests target)" >&2; exit 1; }
"$PY" -c "import torch, torchvision" 2>/dev/null ||
  { echo "FAIL: $PY lacks torch/torchvision (bash launch/setup.sh installs them into .cache/venv)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frost-e2e-torch-pickle.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PY" "$FROST_SRC/tests/fixtures/make_torch_pickle_fixtures.py" "$WORK/files"
FROST_TORCH_PICKLE_DIR="$WORK/files" "$UNIT" --gtest_filter='TorchPickleFixtures.*' \
  > "$WORK/unit.log" 2>&1 || { tail -60 "$WORK/unit.log" >&2; echo "FAIL: TorchPickleFixtures failed" >&2; exit 1; }
if grep -q '\[  SKIPPED \]' "$WORK/unit.log"; then
  cat "$WORK/unit.log" >&2; echo "FAIL: a TorchPickleFixtures test skipped" >&2; exit 1
fi
passed=$(grep -c '^\[       OK \] TorchPickleFixtures\.' "$WORK/unit.log" || true)
[[ $passed -ge 6 ]] || { cat "$WORK/unit.log" >&2; echo "FAIL: $passed TorchPickleFixtures tests passed, expected 6" >&2; exit 1; }
echo "ok: $passed tests: Frost reads PyTorch's torch.save files value for value"
