#!/usr/bin/env bash
# launch/export_backbone.py's errors: bad SPECs (unknown source, unknown timm or torchvision
# model, with close names suggested), weights files (missing, not a state dict, keys that do not
# fit), models it cannot handle (no classifier Linear; torchvision with --channels 1) and sizes
# exit 2 with one "export_backbone: error:" line and leave no file behind; so do argument errors
# (argparse's), an empty --weights, a torch.save file holding its state dict under another key
# (the error names it; --weights-key takes it), and output paths that cannot be files (OUT.pt or
# OUT.json an existing folder, a parent that is a file), checked before any work, and a disk that
# fills while OUT.pt is written (an OSError: one line, no traceback). Then an export
# into folders that do not exist yet, with umask 027: they are made, and the files have mode 0640
# (not mkstemp's 0600).
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
  [[ -z $(find "$WORK" -name '*.tmp') ]] || fail "export_backbone $* left temporary files behind"
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

# argument errors: one line in the documented form, not argparse's usage + "export_backbone.py: error:"
bad "the following arguments are required: SPEC, OUT.pt"
bad "unrecognized arguments: --bogus" timm:convnext_atto "$WORK/bad.pt" --bogus
bad "argument --channels: invalid int value: 'x'" timm:convnext_atto "$WORK/bad.pt" --channels x
bad "--weights '': an empty file name" timm:convnext_atto "$WORK/bad.pt" --weights ""
bad "--weights-key needs --weights" timm:convnext_atto "$WORK/bad.pt" --weights-key net
pass "argument errors: exit 2, one 'export_backbone: error:' line"

# a training checkpoint: the state dict under a key of its own
"$PY" -c "
import sys, torch, torchvision
torch.save({'epoch': 3, 'net': torchvision.models.resnet18().state_dict()}, sys.argv[1])" "$WORK/ckpt.pth"
bad "not a state dict (a dict of name -> tensor); the state dict is under 'net' (--weights-key net)" \
  torchvision:resnet18 "$WORK/bad.pt" --weights "$WORK/ckpt.pth" --input-size 32
bad "no key 'model' in the file (--weights-key model); its keys: 'epoch', 'net'" \
  torchvision:resnet18 "$WORK/bad.pt" --weights "$WORK/ckpt.pth" --weights-key model --input-size 32
pass "a checkpoint {'epoch', 'net'}: the error names 'net'"

# output paths that cannot be files: refused before any work, nothing written
mkdir -p "$WORK/dir.pt" "$WORK/side.json"
echo keep > "$WORK/side.pt"
bad "OUT '$WORK/dir.pt' is a folder" timm:convnext_atto "$WORK/dir.pt" --input-size 32
bad "OUT.json '$WORK/side.json' is a folder" timm:convnext_atto "$WORK/side.pt" --input-size 32
[[ $(cat "$WORK/side.pt") == keep && -d $WORK/side.json ]] || fail "OUT.json a folder: OUT.pt was replaced"
echo file > "$WORK/afile"
bad "is not a folder" timm:convnext_atto "$WORK/afile/sub/bad.pt" --input-size 32
pass "OUT.pt / OUT.json a folder, a parent a file: exit 2, one error line, nothing written"

# a disk that fills while OUT.pt is written: one line, exit 2, no temporary or output file left
rc=0
"$PY" - "$FROST_SRC/launch" "$WORK/full/x.pt" > "$WORK/full.out" 2> "$WORK/full.err" <<'PYEOF' || rc=$?
import errno, os, sys
sys.path.insert(0, sys.argv[1])
import export_backbone as eb
import torch
def no_space(module, path):
    with open(path, "wb") as f:
        f.write(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
torch.jit.save = no_space
sys.exit(eb.main(["timm:convnext_atto", sys.argv[2], "--input-size", "32"]))
PYEOF
[[ $rc -eq 2 ]] || { cat "$WORK/full.err" >&2; fail "a full disk: exit $rc, expected 2"; }
[[ $(grep -c 'export_backbone: error:' "$WORK/full.err") -eq 1 ]] && ! grep -q Traceback "$WORK/full.err" ||
  { cat "$WORK/full.err" >&2; fail "a full disk: expected one error line"; }
expect_in "$WORK/full.err" "No space left on device (nothing written)"
[[ -z $(ls -A "$WORK/full") ]] || fail "a full disk left $(ls -A "$WORK/full")"
pass "a full disk while writing: exit 2, one error line, nothing left"

# missing folders are made; the files get a normal file's mode (umask 027: 0640)
rc=0
(umask 027 && "$X" torchvision:resnet18 "$WORK/new/runs/r18.pt" --weights "$WORK/ckpt.pth" \
  --weights-key net --input-size 32) > "$WORK/ok.out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || { cat "$WORK/ok.out" >&2; fail "export into new folders with --weights-key exited $rc"; }
for f in r18.pt r18.json; do
  m=$(stat -c %a "$WORK/new/runs/$f")
  [[ $m == 640 ]] || fail "$f has mode $m, expected 640 (0666 & ~umask 027)"
done
[[ -z $(find "$WORK/new" -name '*.tmp') ]] || fail "temporary files left in $WORK/new"
expect_in "$WORK/new/runs/r18.json" '"file": "ckpt.pth"'
pass "export into missing folders with --weights-key: made, files mode 640"
