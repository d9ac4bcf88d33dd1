#!/usr/bin/env bash
# launch/export_backbone.py through its command line, then frost-train: a timm ConvNeXt exported
# for grey 32x32 images (--channels 1 --input-size 32, random init: the sidecar says weights
# null and the tool warns) fine-tunes for two steps with the head strategy (frozen backbone:
# its tensors stay as exported) and with full fine-tuning (they change); frost-train logs the
# sidecar's data.* values, warns when the run's differ, and refuses a sidecar whose feature_dim
# is not the module's. The CLI's errors: tests/e2e/test_export_backbone_errors.sh.
source "$(dirname "$0")/lib.sh"
PY=${FROST_PYTHON:-python3}
T="$FROST_BIN/frost-train"
X="$FROST_SRC/launch/export_backbone.py"
"$PY" -c "import torch, torchvision, timm" 2>/dev/null ||
  fail "$PY lacks torch/torchvision/timm (bash launch/setup.sh installs launch/requirements-tools.txt into .cache/venv)"
export FROST_PYTHON="$PY"

FROST_PYTHON="$PY" "$X" timm:convnext_atto "$WORK/net.pt" --channels 1 --input-size 32 --check \
  > "$WORK/export.out" 2> "$WORK/export.err" || { cat "$WORK/export.out" "$WORK/export.err" >&2; fail "export"; }
expect_in "$WORK/export.err" "warning: no --weights: timm:convnext_atto keeps its random initialisation"
expect_in "$WORK/export.out" "tolerance 0.0001): ok"
read -r mean std size < <("$PY" - "$WORK/net.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["weights"] is None and s["input_size"] == [1, 32, 32] and s["feature_dim"] == 320, s
d = s["frost_data"]
assert d["data.normalize"] == "custom" and d["data.image_size"] == 32, d
print(d["data.mean"], d["data.std"], d["data.image_size"])
PY
) || fail "net.json"
pass "CLI export (--channels 1, --input-size 32, --check) and its sidecar"

make_data "$WORK/train.h5" --n 16 --kind image --hw 32 --classes 2
run() {  # run NAME STRATEGY MEAN STD [ARGS...]: frost-train on the exported module
  local name=$1 strategy=$2 m=$3 s=$4; shift 4
  train -np 1 "$T" --data.train "$WORK/train.h5" --model.backbone torchscript \
    --model.torchscript "$WORK/net.pt" --data.image_size "$size" --data.normalize custom \
    --data.mean "$m" --data.std "$s" --data.batch_size 4 --train.threads 1 \
    --train.strategy "$strategy" --log.dir "$WORK/run-$name" "$@"
}
# head with the sidecar's values: logged, no warning; full with another mean/std: a warning
# naming them (Note [Backbone sidecar]).
run head head "$mean" "$std" --train.max_steps 2 > "$WORK/head.out" 2>&1 || { cat "$WORK/head.out" >&2; fail "frost-train head"; }
expect_in "$WORK/head.out" "model.torchscript: sidecar $WORK/net.json (timm:convnext_atto): feature_dim 320, recommends data.image_size = 32, data.normalize = custom, data.mean = $mean, data.std = $std"
if grep -q "preprocessing differs" "$WORK/head.out"; then cat "$WORK/head.out" >&2; fail "warning with the sidecar's values"; fi
run full full 0.25 0.5 --train.max_steps 2 --optim.layer_decay 0.75 > "$WORK/full.out" 2>&1 ||
  { cat "$WORK/full.out" >&2; fail "frost-train full"; }
# Layer-wise lr decay over the ConvNeXt's blocks (stem, stages.0-3, the final norm: 6 layers,
# each with and without weight decay) + the head's 2 groups.
expect_in "$WORK/full.out" "optimizer sgd: 14 parameter groups over 128 trainable tensors (optim.head_lr 0, optim.layer_decay 0.75"
expect_in "$WORK/full.out" "differs from what the backbone's sidecar $WORK/net.json recommends: data.mean = 0.25 (recommended $mean); data.std = 0.5 (recommended $std)"
"$PY" - "$WORK/net.pt" "$WORK/run-head/model.pt" "$WORK/run-full/model.pt" <<'PY' || fail "trained models"
import sys, torch
net = {k: v for k, v in torch.jit.load(sys.argv[1]).state_dict().items() if v.is_floating_point()}
def backbone(path):
    sd = torch.load(path, weights_only=True)
    return {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
head, full = backbone(sys.argv[2]), backbone(sys.argv[3])
params = [k for k in net if not k.endswith(("running_mean", "running_var"))]
assert set(params) <= set(head) and set(params) <= set(full), (len(params), len(head))
unchanged = [k for k in params if torch.equal(head[k], net[k])]
assert len(unchanged) == len(params), f"head changed {set(params) - set(unchanged)}"
changed = [k for k in params if not torch.equal(full[k], net[k])]
assert len(changed) > len(params) // 2, f"full changed only {len(changed)} of {len(params)}"
PY
pass "frost-train fine-tunes the exported ConvNeXt: head keeps the backbone, full (with layer decay) changes it"

# lp-ft: one epoch of linear probing, then everything trains.
run lpft lp-ft "$mean" "$std" --train.epochs 2 --train.lp_epochs 1 > "$WORK/lpft.out" 2>&1 ||
  { cat "$WORK/lpft.out" >&2; fail "frost-train lp-ft"; }
expect_in "$WORK/lpft.out" "epoch 2: lp-ft:head -> lp-ft:full"
pass "lp-ft switches from the head to the whole exported backbone"

# A sidecar from another export (feature_dim differs) is refused, naming both files.
cp "$WORK/net.json" "$WORK/net.json.orig"
sed -i 's/"feature_dim": 320/"feature_dim": 321/' "$WORK/net.json"
if run bad head "$mean" "$std" --train.max_steps 2 > "$WORK/bad-side.out" 2>&1; then fail "a sidecar with another feature_dim was accepted"; fi
expect_in "$WORK/bad-side.out" "model.torchscript: '$WORK/net.pt' has feature_dim 320 but its sidecar '$WORK/net.json' says 321"
mv "$WORK/net.json.orig" "$WORK/net.json"
pass "frost-train logs the sidecar's preprocessing, warns when the run differs, refuses a foreign sidecar"
