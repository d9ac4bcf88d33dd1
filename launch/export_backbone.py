#!/usr/bin/env python3
"""Exports a torchvision or timm model as a Frost TorchScript backbone (model.backbone =
torchscript).

    launch/export_backbone.py SPEC OUT.pt [--weights FILE [--weights-key KEY]]
                              [--input-size H[,W]] [--channels C] [--check]

SPEC is torchvision:NAME (torchvision.models.get_model(NAME, weights=None)) or timm:NAME
(timm.create_model(NAME, pretrained=False, num_classes=0)). Nothing is downloaded: weights come
only from --weights, a state dict file (.pth / .pt / .bin read with torch.load(weights_only=True),
or .safetensors), loaded strictly into the model without its classifier; keys of the classifier
in the file are dropped, any other missing or unexpected key is an error that lists them.
A torch.save file may hold the state dict under a usual wrapper key (state_dict, model,
model_state_dict), or under --weights-key KEY (.-separated dict keys, as frost-train's
model.weights_key, e.g. net for {'epoch': 3, 'net': state_dict}); when it is not found, the error
names the keys under which the file holds state dicts. Without --weights the model keeps its
random initialisation, and the sidecar says so ("weights": null).

Note [Output paths]
Writes two files, OUT.pt and OUT.json, each to a temporary name in the same folder (with the
mode of a normal new file, 0666 less the umask), then fsync and rename both once both are
written, so a failed run leaves neither half-written. Both paths are checked before any work
(neither may be a folder; the nearest existing parent must be a writable folder); missing
parent folders are created when the files are written, as frost-train creates log.dir.
  OUT.pt    the feature extractor as TorchScript (torch.jit.script when it compiles, else
            torch.jit.trace at the input size): forward(x [B, C, H, W] float32) -> [B, D]
            pooled features, classifier removed, an int attribute feature_dim = D (the contract
            of src/frost/models/torchscript_backbone.h). Parameter names are the model's own
            (no wrapper prefix), so Frost's backbone blocks follow the model's stages.
  OUT.json  the sidecar: spec, feature_dim, input_size [C, H, W], mean, std, interpolation,
            crop_pct (timm: timm.data.resolve_data_config of the model; torchvision: the
            transforms() of the model's DEFAULT weights enum, else ImageNet's 224 / 0.875),
            export (script | trace), versions of torch / torchvision / timm, weights (file name
            and sha256, or null), and the Frost data.* values to set (frost_data).

Classifier removal (Note [Classifier removal]): timm models get num_classes=0 (their
forward then returns the pooled pre-logits features, timm's reset_classifier(0)). torchvision
models have no such switch: the last nn.Linear in module order whose out_features is the
model's num_classes (1000) is replaced by nn.Identity -- fc (ResNet, RegNet), heads.head (ViT),
head (Swin), classifier.N (EfficientNet, ConvNeXt after its LayerNorm2d + Flatten, MobileNet's
last layer). A model without such a Linear, or whose output is then not [B, D] in both train
and eval mode (e.g. Inception's auxiliary outputs), is refused with a message.

--input-size H[,W]: the size the export is traced and checked at (default: the model's own
input size); timm models that take img_size (ViT, Swin, ...) are built at it. --channels C:
input channels (default 3; timm's in_chans; a 3-channel stem in --weights is adapted to C with
timm's adapt_input_conv). --check: runs the Python model and the TorchScript module (reloaded
from OUT.pt) on a seeded random batch in eval mode and fails when the largest absolute
difference of the features exceeds 1e-4 (float32 reordering only; a wrong export differs by
orders of magnitude more).

Runs with the project's Python (the venv launch/setup.sh fills, with timm from
launch/requirements-tools.txt): started by another interpreter, it re-runs itself with
$FROST_PYTHON, else $FROST_VENV/bin/python, else .cache/venv/bin/python (launch/_frost_tool.py).
Exit status: 0 done, 1 check failed, 2 bad input or arguments, or a file that cannot be written
(one line on stderr starting with "export_backbone: error:").
"""
import argparse
import difflib
import hashlib
import inspect
import json
import os
import sys
import zipfile

PROG = "export_backbone"
CHECK_TOLERANCE = 1e-4
# ImageNet preprocessing (torchvision's ImageClassification defaults, timm's IMAGENET_DEFAULT_*).
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class ExportError(Exception):
    pass


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _frost_tool  # noqa: E402  (standard library only: runs under any python3)

if __name__ == "__main__":
    _frost_tool.run_with_project_python(__file__)
torch = nn = None  # imported by load_torch() once the arguments are checked (errors come fast)


def load_torch():
    global torch, nn
    if torch is None:
        try:
            import torch as torch_module
            import torch.nn as nn_module
        except ImportError:
            raise ExportError(f"no torch in {sys.executable}: run launch/setup.sh (it fills the "
                              "venv .cache/venv) or set FROST_PYTHON")
        torch, nn = torch_module, nn_module


def parse_size(text):
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise ExportError(f"--input-size '{text}': expected H or H,W (positive integers)")
    return parts


# ---- building the model ---------------------------------------------------------------------


def similar(name, names):
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def build_timm(name, channels, size):
    """timm.create_model without a classifier; returns (model, data_config, classifier_prefix)."""
    load_torch()
    try:
        import timm
        import timm.data
    except ImportError as e:
        raise ExportError(f"timm is not installed ({e}): launch/setup.sh installs it from "
                          "launch/requirements-tools.txt")
    if not timm.is_model(name):
        raise ExportError(f"unknown timm model '{name}'" + similar(name, timm.list_models()))
    kwargs = dict(pretrained=False, num_classes=0, in_chans=channels, scriptable=True)
    model = None
    if size is not None:
        try:  # models with a fixed token grid (ViT, Swin, ...) are built for the size
            model = timm.create_model(name, img_size=tuple(size), **kwargs)
        except TypeError:
            model = None  # a CNN: any size works, nothing to set
    if model is None:
        model = timm.create_model(name, **kwargs)
    cfg = timm.data.resolve_data_config({}, model=model)
    classifier = model.pretrained_cfg.get("classifier") or "head"
    prefixes = [classifier] if isinstance(classifier, str) else list(classifier)
    return model, cfg, prefixes


def build_torchvision(name, channels):
    """get_model(NAME, weights=None) with its classifier Linear replaced by Identity (Note
    [Classifier removal] in the module docstring); returns (model, data_config, prefixes)."""
    load_torch()
    import torchvision
    from torchvision import models as tvm
    if name not in tvm.list_models():
        raise ExportError(f"unknown torchvision model '{name}'" + similar(name, tvm.list_models()))
    if channels != 3:
        raise ExportError(f"--channels {channels}: torchvision models take 3 channels; use a timm "
                          "model (in_chans) or prepare the data with 3 channels "
                          "(frost-prep images --channels 3)")
    model = tvm.get_model(name, weights=None)
    num_classes = 1000
    last = None
    for qual, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = (qual, mod)
    if last is None or last[1].out_features != num_classes:
        raise ExportError(f"torchvision model '{name}': cannot find its classifier (the last "
                          f"nn.Linear with {num_classes} outputs); export it by hand "
                          "(docs/weights.md, TorchScript backbones)")
    qual, linear = last
    parent = model.get_submodule(qual.rsplit(".", 1)[0]) if "." in qual else model
    setattr(parent, qual.rsplit(".", 1)[-1], nn.Identity())
    cfg = {"input_size": (3, 224, 224), "interpolation": "bilinear", "mean": IMAGENET_MEAN,
           "std": IMAGENET_STD, "crop_pct": 0.875}
    try:
        t = tvm.get_model_weights(name).DEFAULT.transforms()
        crop, resize = t.crop_size[0], t.resize_size[0]
        cfg = {"input_size": (3, crop, crop), "interpolation": t.interpolation.value,
               "mean": list(t.mean), "std": list(t.std), "crop_pct": round(crop / resize, 4)}
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        pass  # no weights enum: ImageNet's defaults
    return model, cfg, [qual]


# ---- weights ----------------------------------------------------------------------------------


def state_dicts_in(obj, prefix="", depth=0):
    """The .-separated keys under which `obj` (a loaded file) holds a state dict (a non-empty
    dict of str -> tensor), two levels deep at most."""
    found = []
    if isinstance(obj, dict) and depth < 2:
        for k, v in obj.items():
            if not isinstance(k, str):
                continue
            if is_state_dict(v):
                found.append(prefix + k)
            else:
                found += state_dicts_in(v, prefix + k + ".", depth + 1)
    return found


def is_state_dict(obj):
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_state_dict(path, key=None):
    """The state dict in `path`: the file's dict, the dict under `key` (.-separated dict keys,
    as frost-train's model.weights_key), else under a usual wrapper key (state_dict, model,
    model_state_dict). Raises ExportError naming the file, and where its state dicts are."""
    if not os.path.isfile(path):
        raise ExportError(f"--weights: no such file '{path}'")
    if not path.endswith(".safetensors") and not zipfile.is_zipfile(path):
        raise ExportError(f"--weights '{path}': not a torch.save zip archive nor .safetensors (a "
                          "legacy pickle: load it and torch.save it again with PyTorch >= 1.6)")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file
            sd = load_file(path)
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any reader error is one line about this file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"--weights '{path}': cannot read it as a state dict: "
                          f"{type(e).__name__}: {msg[:300]}")
    top = sd
    if key is not None:
        at = []
        for part in key.split("."):
            if not isinstance(sd, dict) or part not in sd:
                keys = ", ".join(repr(k) for k in list(sd)[:10]) if isinstance(sd, dict) else ""
                where = "'" + ".".join(at) + "'" if at else "the file"
                raise ExportError(f"--weights '{path}': no key '{part}' in {where} (--weights-key "
                                  f"{key}); its keys: {keys or 'none (not a dict)'}")
            sd, at = sd[part], at + [part]
    else:
        for wrapper in ("state_dict", "model", "model_state_dict"):
            if isinstance(sd, dict) and isinstance(sd.get(wrapper), dict):
                sd = sd[wrapper]
    if not is_state_dict(sd):
        found = state_dicts_in(top)
        hint = ""
        if found:
            hint = ("; the state dict is under " + ", ".join(f"'{k}'" for k in found)
                    + f" (--weights-key {found[0]})")
        what = f"under '{key}' " if key is not None else ""
        raise ExportError(f"--weights '{path}': {what}not a state dict (a dict of name -> tensor)"
                          + hint)
    if all(k.startswith("module.") for k in sd):  # saved from DistributedDataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_weights(model, sd, path, classifier_prefixes, channels):
    sd = {k: v for k, v in sd.items()
          if not any(k == p or k.startswith(p + ".") for p in classifier_prefixes)}
    own = model.state_dict()
    for k, v in list(sd.items()):  # a 3-channel stem for --channels C (timm's adapt_input_conv)
        if (k in own and v.dim() == 4 and own[k].dim() == 4 and v.shape[1] == 3 and channels != 3
                and own[k].shape[1] == channels and v.shape[0] == own[k].shape[0]):
            from timm.models import adapt_input_conv
            sd[k] = adapt_input_conv(channels, v)
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {list(sd[k].shape)} vs {list(own[k].shape)}" for k in own
              if k in sd and sd[k].shape != own[k].shape]

    def some(names):
        return ", ".join(names[:6]) + (f" ... ({len(names)} in all)" if len(names) > 6 else "")

    problems = []
    if missing:
        problems.append(f"missing {some(missing)}")
    if unexpected:
        problems.append(f"unexpected {some(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch (file vs model) {some(shapes)}")
    if problems:
        raise ExportError(f"--weights '{path}' does not fit the model: " + "; ".join(problems))
    model.load_state_dict(sd, strict=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- export -----------------------------------------------------------------------------------


def features_of(module, x, what):
    try:
        out = module(x)
    except Exception as e:  # noqa: BLE001 -- a model that cannot run at this size, ...
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ExportError(f"{what} fails on an input {list(x.shape)} in "
                          f"{'train' if module.training else 'eval'} mode: {msg[:300]} (another "
                          "--input-size?)")
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        desc = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ExportError(f"{what} returns {desc} for input {list(x.shape)} in "
                          f"{'train' if module.training else 'eval'} mode; a backbone must return "
                          "pooled features [B, D]")
    return out


def single_input_forward(model, source, example):
    """Note [forward(x) only]: Frost calls forward(x), or forward(x, attention_mask) for text
    encoders (a second argument gets the mask). Some timm models take more (ViT:
    forward(x, attn_mask=None, is_causal=False)); for them the class of `model` becomes a
    subclass whose forward(x) is timm's own composition forward_head(forward_features(x)), the
    same parameters under the same names. The eval-mode features on `example` must be bitwise
    those of the original forward. Other models with extra arguments are refused."""
    params = list(inspect.signature(model.forward).parameters.values())
    if len(params) <= 1:
        return
    if source != "timm" or not all(hasattr(model, f) for f in ("forward_features", "forward_head")):
        names = ", ".join(p.name for p in params)
        raise ExportError(f"forward takes {len(params)} arguments ({names}); a Frost image "
                          "backbone takes forward(x)")
    with torch.no_grad():
        want = model(example)
        base = type(model)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.forward_head(self.forward_features(x))

        model.__class__ = type(base.__name__ + "Features", (base,), {"forward": forward})
        got = model(example)
    if not torch.equal(want, got):
        raise ExportError("forward_head(forward_features(x)) differs from the model's forward(x); "
                          "cannot give it a single-input forward")


def to_torchscript(model, example):
    """torch.jit.script, else torch.jit.trace at the example's size; adds feature_dim = D."""
    load_torch()
    try:
        scripted, mode = torch.jit.script(model), "script"
    except Exception as e:  # noqa: BLE001 -- whatever the compiler refuses, tracing may do
        print(f"{PROG}: torch.jit.script failed ({str(e).strip().splitlines()[0][:200]}); "
              "tracing at the input size instead", file=sys.stderr)
        with torch.no_grad():
            scripted, mode = torch.jit.trace(model, example, check_trace=False), "trace"
    return scripted, mode


def export(args):
    if ":" not in args.spec:
        raise ExportError(f"SPEC '{args.spec}': expected torchvision:NAME or timm:NAME")
    source, name = args.spec.split(":", 1)
    if source not in ("timm", "torchvision"):
        raise ExportError(f"SPEC '{args.spec}': unknown source '{source}' (torchvision | timm)")
    if args.channels < 1:
        raise ExportError(f"--channels {args.channels}: must be >= 1")
    size = parse_size(args.input_size) if args.input_size else None
    out = args.out
    if not out.endswith(".pt"):
        raise ExportError(f"OUT '{out}': expected a .pt file name (the sidecar is OUT.json)")
    sidecar_path = out[:-len(".pt")] + ".json"
    for what, path in (("OUT", out), ("OUT.json", sidecar_path)):  # Note [Output paths]
        try:
            _frost_tool.check_output_path(path)
        except ValueError as e:
            raise ExportError(f"{what} {e}")
    if args.weights == "":
        raise ExportError("--weights '': an empty file name (leave --weights out for a randomly "
                          "initialised model)")
    if args.weights_key is not None and args.weights is None:
        raise ExportError("--weights-key needs --weights")
    if args.weights and not os.path.isfile(args.weights):
        raise ExportError(f"--weights: no such file '{args.weights}'")
    load_torch()
    weights = None  # read before the model is built: a bad file fails fast
    if args.weights:
        weights = read_state_dict(args.weights, args.weights_key)

    if source == "timm":
        model, cfg, classifier = build_timm(name, args.channels, size)
    else:
        model, cfg, classifier = build_torchvision(name, args.channels)
    if args.weights:
        load_weights(model, weights, args.weights, classifier, args.channels)
    else:
        print(f"{PROG}: warning: no --weights: {args.spec} keeps its random initialisation "
              "(the sidecar says \"weights\": null)", file=sys.stderr)
    h, w = size if size is not None else list(cfg["input_size"][1:])

    model.eval()
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(2, args.channels, h, w, generator=gen)
    with torch.no_grad():
        # A train-mode forward updates BatchNorm's running statistics: put them back after.
        state = {k: v.clone() for k, v in model.state_dict().items()}
        model.train()
        features_of(model, example, args.spec)
        model.eval()
        model.load_state_dict(state)
        feature_dim = int(features_of(model, example, args.spec).shape[1])

    single_input_forward(model, source, example)
    scripted, mode = to_torchscript(model, example)
    # The contract's int attribute; a scripted module keeps it as an attribute of its type, a
    # traced one gets it registered the same way (tracing keeps no Python attributes).
    if scripted._c.hasattr("feature_dim"):
        if not isinstance(scripted.feature_dim, int):
            raise ExportError(f"{args.spec} has an attribute feature_dim that is a "
                              f"{type(scripted.feature_dim).__name__}, not the int D Frost reads")
        scripted.feature_dim = feature_dim
    else:
        scripted._c._register_attribute("feature_dim", torch._C.IntType.get(), feature_dim)

    import torchvision
    try:
        import timm
        timm_version = timm.__version__
    except ImportError:
        timm_version = None
    mean, std = [float(v) for v in cfg["mean"]], [float(v) for v in cfg["std"]]
    if len(mean) != args.channels:  # e.g. --channels 1: timm keeps the 3-channel statistics
        mean = [sum(mean) / len(mean)] * args.channels
        std = [sum(std) / len(std)] * args.channels
    sidecar = {
        "spec": args.spec,
        "feature_dim": feature_dim,
        "input_size": [args.channels, h, w],
        "mean": mean,
        "std": std,
        "interpolation": cfg.get("interpolation"),
        "crop_pct": cfg.get("crop_pct"),
        "export": mode,
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "timm": timm_version},
        "weights": None if not args.weights else {
            "file": os.path.basename(args.weights), "sha256": sha256(args.weights)},
        "frost_data": {
            "data.image_size": h if h == w else None,
            "data.normalize": "custom",
            "data.mean": ",".join(f"{v:g}" for v in mean),
            "data.std": ",".join(f"{v:g}" for v in std),
            "data.eval_crop_pct": cfg.get("crop_pct"),
        },
    }

    # Both files go to temporary names first and are renamed only when both are written.
    tmps = []
    try:
        tmps.append(_frost_tool.temp_beside(out))
        torch.jit.save(scripted, tmps[0])
        tmps.append(_frost_tool.temp_beside(sidecar_path))
        with open(tmps[1], "w") as f:
            json.dump(sidecar, f, indent=2)
            f.write("\n")
        _frost_tool.commit(tmps[0], out)
        _frost_tool.commit(tmps[1], sidecar_path)
    finally:
        for t in tmps:
            if os.path.exists(t):
                _frost_tool.remove_quietly(t)
    print(f"{PROG}: wrote {out} ({mode}, feature_dim {feature_dim}, input "
          f"{args.channels}x{h}x{w}) and {sidecar_path}")

    if args.check:
        loaded = torch.jit.load(out)
        loaded.eval()
        x = torch.randn(4, args.channels, h, w, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            want = features_of(model, x, args.spec)
            got = features_of(loaded, x, out)
        diff = (want - got).abs().max().item() if got.shape == want.shape else float("inf")
        ok = diff <= CHECK_TOLERANCE and int(loaded.feature_dim) == feature_dim
        print(f"{PROG}: check: max |features(Python) - features(TorchScript)| = {diff:.3g} on a "
              f"seeded [4, {args.channels}, {h}, {w}] batch (tolerance {CHECK_TOLERANCE:g}): "
              f"{'ok' if ok else 'FAILED'}")
        if not ok:
            return 1
    return 0


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are the tool's one documented line, exit status 2."""

    def error(self, message):
        print(f"{PROG}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def main(argv=None):
    p = ArgumentParser(prog="export_backbone.py",
                                description="Export a torchvision or timm model as a Frost "
                                            "TorchScript backbone (see the module docstring).")
    p.add_argument("spec", metavar="SPEC", help="torchvision:NAME or timm:NAME")
    p.add_argument("out", metavar="OUT.pt", help="TorchScript file to write (sidecar: OUT.json)")
    p.add_argument("--weights", help="state dict file (.pth/.pt/.bin or .safetensors)")
    p.add_argument("--weights-key", metavar="KEY",
                   help="where the state dict is in a torch.save file, as .-separated dict keys "
                        "(e.g. net for {'epoch': 3, 'net': state_dict})")
    p.add_argument("--input-size", help="H or H,W (default: the model's input size)")
    p.add_argument("--channels", type=int, default=3, help="input channels (default 3)")
    p.add_argument("--check", action="store_true",
                   help="compare TorchScript and Python features on a seeded batch")
    args = p.parse_args(argv)
    try:
        return export(args)
    except ExportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # reading, writing, renaming, making a folder: one line, no traceback
        where = f"'{e.filename}': " if e.filename else ""
        print(f"{PROG}: error: {where}{e.strerror or e} (nothing written)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
