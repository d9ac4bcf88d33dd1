"""Exports small timm and torchvision models with launch/export_backbone.py and writes what the
C++ parity test (ExportedBackboneFixtures.* in tests/unit/models/test_torchscript.cpp) compares.

    FROST_PYTHON tests/e2e/export_backbone_fixtures.py OUT_DIR

For each model of MODELS, at random initialisation from torch.manual_seed(index):
  1. builds the Python model as the tool does (build_timm / build_torchvision, input 64x64),
     saves its state dict plus a classifier of 1000 classes under the model's classifier name
     (as a published checkpoint has it; the tool must drop it), as .safetensors or .pth;
  2. runs the tool's CLI entry point (main) with --weights that file, --input-size 64 and
     --check (parity of the reloaded TorchScript module with the Python model, in Python);
  3. writes OUT_DIR/NAME_expected.txt, the Python model's eval-mode features on
     x [2, 3, 64, 64] = sin(0.11 j) over the flat index j (float64, then float32), in the values
     format of tests/fixtures/make_torchscript_fixtures.py (a shape line, then one value a line),
     and OUT_DIR/NAME_params.txt, the Python model's parameter names in order;
  4. checks that NAME.pt holds exactly the tensors of the weights file less the classifier,
     bit for bit, and the sidecar NAME.json (feature_dim, input_size, export mode, weights sha256).
OUT_DIR/models.txt lists the names. It also checks the torch.jit.trace fallback on a module
that torch.jit.script refuses (the traced module still gets the feature_dim attribute).
Exits non-zero with a message on the first failure. One process for all models: importing
torch and timm once keeps the e2e test short.
"""
import hashlib
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch"))
import export_backbone as eb  # noqa: E402

# (file name, SPEC, weights format)
MODELS = [
    ("vit", "timm:vit_tiny_patch16_224", ".safetensors"),
    ("convnext", "timm:convnext_atto", ".pth"),
    ("efficientnet", "timm:efficientnet_lite0", ".safetensors"),
    ("resnet", "torchvision:resnet18", ".pth"),
]
SIZE = 64


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def image_input():
    j = torch.arange(2 * 3 * SIZE * SIZE, dtype=torch.float64)
    return torch.sin(0.11 * j).reshape(2, 3, SIZE, SIZE).to(torch.float32)


def write_values(path, t):
    with open(path, "w") as f:
        f.write(" ".join(str(s) for s in t.shape) + "\n")
        for v in t.flatten().tolist():
            f.write(f"{v:.9g}\n")


class Unscriptable(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 5)

    def forward(self, *xs):  # varargs: torch.jit.script refuses them
        return self.proj(xs[0].mean(dim=(2, 3)))


def check_trace_fallback(out_dir):
    module, x = Unscriptable().eval(), torch.randn(2, 3, 8, 8)
    traced, mode = eb.to_torchscript(module, x)
    if mode != "trace":
        fail(f"the unscriptable module was exported as {mode}, expected trace")
    traced._c._register_attribute("feature_dim", torch._C.IntType.get(), 5)
    path = os.path.join(out_dir, "traced.pt")
    torch.jit.save(traced, path)
    loaded = torch.jit.load(path)
    if loaded.feature_dim != 5 or not torch.equal(loaded(x), module(x)):
        fail("the traced module lost feature_dim or differs from the Python module")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    x = image_input()
    for index, (name, spec, fmt) in enumerate(MODELS):
        torch.manual_seed(index)
        source, arch = spec.split(":")
        if source == "timm":
            model, _, classifier = eb.build_timm(arch, 3, [SIZE, SIZE])
        else:
            model, _, classifier = eb.build_torchvision(arch, 3)
        model.eval()
        with torch.no_grad():
            want = model(x)
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        sd[classifier[0] + ".weight"] = torch.randn(1000, want.shape[1])
        sd[classifier[0] + ".bias"] = torch.randn(1000)
        weights = os.path.join(out_dir, name + "_weights" + fmt)
        if fmt == ".safetensors":
            from safetensors.torch import save_file
            save_file(sd, weights)
        else:
            torch.save(sd, weights)
        out = os.path.join(out_dir, name + ".pt")
        rc = eb.main([spec, out, "--weights", weights, "--input-size", str(SIZE), "--check"])
        if rc != 0:
            fail(f"export_backbone {spec} exited {rc}")
        exported = torch.jit.load(out).state_dict()
        changed = [k for k, v in exported.items() if not torch.equal(v, sd[k])]
        if set(exported) != set(sd) - {c + s for c in classifier[:1] for s in (".weight", ".bias")} \
                or changed:
            fail(f"{name}.pt: its tensors are not those of --weights (changed: {changed[:5]})")
        write_values(os.path.join(out_dir, name + "_expected.txt"), want)
        with open(os.path.join(out_dir, name + "_params.txt"), "w") as f:
            f.write("\n".join(n for n, _ in model.named_parameters()) + "\n")
        with open(os.path.join(out_dir, name + ".json")) as f:
            side = json.load(f)
        with open(weights, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        expect = {"spec": spec, "feature_dim": want.shape[1], "input_size": [3, SIZE, SIZE],
                  "export": "script", "weights": {"file": os.path.basename(weights),
                                                  "sha256": digest}}
        for key, value in expect.items():
            if side.get(key) != value:
                fail(f"{name}.json: {key} = {side.get(key)!r}, expected {value!r}")
        for key in ("mean", "std", "interpolation", "crop_pct", "versions", "frost_data"):
            if side.get(key) in (None, ""):
                fail(f"{name}.json: no {key}")
        print(f"ok: {spec}: exported, --check passed, feature_dim {want.shape[1]}", flush=True)
    with open(os.path.join(out_dir, "models.txt"), "w") as f:
        f.write("\n".join(name for name, _, _ in MODELS) + "\n")
    check_trace_fallback(out_dir)
    print("ok: torch.jit.trace fallback keeps feature_dim")


if __name__ == "__main__":
    main()
