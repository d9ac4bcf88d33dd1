#!/usr/bin/env bash
# launch/export_backbone.py on a ViT, a ConvNeXt, an EfficientNet (timm) and a ResNet-18
# (torchvision), at random initialisation passed through --weights (with a classifier the tool
# drops), input 64x64:
#   1. tests/e2e/export_backbone_fixtures.py exports each with --check (parity of the TorchScript
#      module with the Python model, in Python), checks the sidecars, checks the trace fallback,
#      and writes the Python model's features;
#   2. frost_unit_models_tests --gtest_filter='ExportedBackboneFixtures.*' with
#      FROST_EXPORT_BACKBONE_DIR set: Frost's make_torchscript_backbone gives the same features
#      and the Python model's parameter names. Every test must run and pass: a skip fails here.
# Training with an exported model and the CLI's errors: tests/e2e/test_export_backbone_train.sh.
source "$(dirname "$0")/lib.sh"
PY=${FROST_PYTHON:-python3}
UNIT="$FROST_BIN/tests/frost_unit_models_tests"
[[ -x "$UNIT" ]] || fail "$UNIT is not an executable (build the frost_unit_models_tests target)"
"$PY" -c "import torch, torchvision, timm" 2>/dev/null ||
  fail "$PY lacks torch/torchvision/timm (bash launch/setup.sh installs launch/requirements-tools.txt into .cache/venv)"

"$PY" "$FROST_SRC/tests/e2e/export_backbone_fixtures.py" "$WORK/x" > "$WORK/export.log" 2>&1 ||
  { cat "$WORK/export.log" >&2; fail "export_backbone_fixtures.py"; }
[[ $(grep -c 'tolerance 0.0001): ok' "$WORK/export.log") -eq 4 ]] ||
  { cat "$WORK/export.log" >&2; fail "expected 4 passed --check lines"; }
pass "4 models exported, --check parity in Python, sidecars, trace fallback"

FROST_EXPORT_BACKBONE_DIR="$WORK/x" "$UNIT" --gtest_filter='ExportedBackboneFixtures.*' \
  > "$WORK/unit.log" 2>&1 || { tail -60 "$WORK/unit.log" >&2; fail "ExportedBackboneFixtures failed"; }
if grep -q '\[  SKIPPED \]' "$WORK/unit.log"; then
  cat "$WORK/unit.log" >&2; fail "an ExportedBackboneFixtures test skipped"
fi
passed=$(grep -c '^\[       OK \] ExportedBackboneFixtures\.' "$WORK/unit.log" || true)
[[ $passed -eq 4 ]] || { cat "$WORK/unit.log" >&2; fail "$passed ExportedBackboneFixtures tests passed, expected 4"; }
pass "Frost's TorchScript backbone computes the Python models' features (ViT, ConvNeXt, EfficientNet, ResNet)"
