#!/usr/bin/env bash
# End-to-end test of export_model(format = torchvision): the exported model.safetensors loads
# into torchvision's ResNet with load_state_dict(strict=True) and gives Frost's logits.
#   1. frost_unit_models_tests --gtest_filter=WeightsExport.Torchvision* with FROST_EXPORT_DIR set
#      writes two exports (a width-8 small-input ResNet-18 and the stock ResNet-18), each with
#      an input batch and Frost's eval-mode logits;
#   2. tests/e2e/check_export_torchvision.py (FROST_PYTHON: torch + torchvision) rebuilds each model,
#      loads the file strictly and compares the logits (max abs difference <= 1e-4).
# Environment (from ctest): FROST_BIN (build directory), FROST_SRC (source root), FROST_PYTHON
# (the Python of launch/setup.sh's venv; default python3).
set -euo pipefail
: "${FROST_BIN:?set FROST_BIN to the build directory}" "${FROST_SRC:?set FROST_SRC to the source root}"
PY=${FROST_PYTHON:-python3}
UNIT="$FROST_BIN/tests/frost_unit_models_tests"
[[ -x "$UNIT" ]] || { echo "FAIL: $UNIT is not an executable (build the frost_unit_models_tests target)" >&2; exit 1; }
"$PY" -c "import torch, torchvision" 2>/dev/null ||
  { echo "FAIL: $PY lacks torch/torchvision (bash launch/setup.sh installs them into .cache/venv)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frost-e2e-export.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

FROST_EXPORT_DIR="$WORK/export" "$UNIT" --gtest_filter='WeightsExport.Torchvision*' > "$WORK/unit.log" 2>&1 ||
  { tail -40 "$WORK/unit.log" >&2; echo "FAIL: the exporting unit tests failed" >&2; exit 1; }
for d in "$WORK/export/small" "$WORK/export/stock"; do
  [[ -f "$d/model.safetensors" && -f "$d/model.json" && -f "$d/check.safetensors" ]] ||
    { echo "FAIL: $d lacks model.safetensors / model.json / check.safetensors" >&2; exit 1; }
done
"$PY" "$FROST_SRC/tests/e2e/check_export_torchvision.py" "$WORK/export/small" "$WORK/export/stock"
echo "ok: torchvision loads Frost's exports strictly and reproduces the logits"
