#!/usr/bin/env bash
# launch/export_backbone.py's errors: bad SPECs (unknown source, unknown timm or torchvision
# model, with close names suggested), weights files (missing, not a state dict, keys that do not
# fit), models it cannot handle (no classifier Linear; torchvision with --channels 1) and sizes
# exit 2 with one "export_backbone: error:" line and leave no file behind.
source "$(dirname "$0")/lib.sh"
PY=${FROST_PYTHON:-python3}
X="$FROST_SRC/launch/export_backbone.py"
"$PY" -c "import torch, torchvision, timm" 2>/dev/null ||
  fail "$PY lacks torch/torchvision/timm (bash launch/setup.sh installs launch/requirements-tools.txt into .cache/venv)"
export FROST_PYTHON="$PY"

bad() {  # bad EXPECTED_TEXT ARGS...: exit 2, one error line naming the problem
  local expected=$1; shift
  local rc=0
  "$X" "$@" > "$WORK/bad.out" 2> "$WORK/bad.err" || rc=$?
  [[ $rc -eq 2 ]] || { cat "$WORK/bad.out" "$WORK/bad.err" >&2; fail "export_backbone $* exited $rc, expected 2"; }
  [[ $(grep -c 'export_backbone: error:' "$WORK/bad.err") -eq 1 ]] || { cat "$WORK/bad.err" >&2; fail "expected one error line for $*"; }
  expect_in "$WORK/bad.err" "$expected"
  [[ ! -e $WORK/bad.pt && ! -e $WORK/bad.json ]] || fail "export_backbone $* left files behind"
}
bad "unknown source 'keras' (torchvision | timm)" keras:resnet50 "$WORK/bad.pt"
bad "unknown timm model 'convnext_atom' (did you mean convnext_atto" timm:convnext_atom "$WORK/bad.pt"
bad "unknown torchvision model 'resnet7' (did you mean" torchvision:resnet7 "$WORK/bad.pt"
bad "--weights: no such file" timm:convnext_atto "$WORK/bad.pt" --weights "$WORK/none.pth"
echo "not a checkpoint" > "$WORK/junk.pth"
bad "not a torch.save zip archive nor .safetensors" timm:convnext_atto "$WORK/bad.pt" --weights "$WORK/junk.pth"
echo "not a checkpoint" > "$WORK/junk.safetensors"
bad "cannot read it as a state dict" timm:convnext_atto "$WORK/bad.pt" --weights "$WORK/junk.safetensors"
"$PY" -c "
import sys, torch, torchvision
sd = torchvision.models.resnet18().state_dict()
del sd['layer4.1.bn2.weight']; sd['extra.weight'] = torch.zeros(1)
torch.save(sd, sys.argv[1])" "$WORK/r18.pth"
bad "does not fit the model: missing layer4.1.bn2.weight; unexpected extra.weight" \
  torchvision:resnet18 "$WORK/bad.pt" --weights "$WORK/r18.pth" --input-size 32
bad "cannot find its classifier (the last nn.Linear with 1000 outputs)" torchvision:squeezenet1_0 "$WORK/bad.pt"
bad "--channels 1: torchvision models take 3 channels" torchvision:resnet18 "$WORK/bad.pt" --channels 1
bad "--input-size 'x': expected H or H,W" timm:convnext_atto "$WORK/bad.pt" --input-size x
pass "bad SPECs, weights files and sizes: exit 2, one error line, no files"
