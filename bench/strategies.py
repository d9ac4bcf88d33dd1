#!/usr/bin/env python3
"""The fine-tuning spectrum, measured: `head`, `lp-ft`, `partial` (the last backbone block) and
`full` on the same task, same data, same ranks, one after the other on an otherwise idle machine.

    /usr/bin/python3 bench/strategies.py                       # both tasks; updates docs/results.md
    /usr/bin/python3 bench/strategies.py --task sentiment      # one task
    /usr/bin/python3 bench/strategies.py --no-doc --epochs-scale 0.5   # a quick look, docs untouched

Tasks (the README's demo jobs, launch/demo.sh, their configs under configs/):
  sentiment      all-MiniLM-L6-v2 (pretrained, mean pooling) on sentence polarity, AdamW;
                 base configs/sentiment-minilm-full.ini
  fashion-mnist  the task-A ResNet-18 layout (width 16) transferred to Fashion-MNIST classes 5-9,
                 SGD; base configs/fashion-mnist-b-full.ini (runs the task-A pretraining first
                 when runs/fashion-mnist-a-pretrain/model.pt is missing)

Every strategy runs from the same pretrained backbone with a new head, the base config's
optimizer and schedule, and the per-strategy settings of STRATEGIES below (epochs, learning
rates: a frozen backbone's head wants a larger learning rate than a full fine-tune; the reason
for each value is written next to it). For each run, from its metrics.jsonl and run.log:
test accuracy after the last epoch and the best epoch's, the wall time of the whole frost-train
job (start-up, feature extraction, evaluation included), training samples/s (samples trained /
the epochs' training time), peak RSS per rank (/usr/bin/time, bench/peak_rss.sh), MB all-reduced
per optimizer step (comm_bytes; for lp-ft the head phase and the full phase separately) and the
trainable parameters (the start-up line; lp-ft's after the switch as well).

Writes bench/results/strategies-<task>.csv, a plot bench/results/strategies-<task>.png (test
accuracy per epoch, one line per strategy; skipped with --no-plot) and the region between
<!-- strategies-<task>:begin --> and <!-- strategies-<task>:end --> of docs/results.md.
"""
import argparse
import csv
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (re-executes in the venv)
from common import ROOT, log  # noqa: E402

# Per task: the base config, the number of ranks' per-rank batch comes from it, and per strategy
# the frost-train options added to it. Learning rates: the base config's for `full`; the head of
# `head` the linear-probe config's (configs/*-head.ini); lp-ft and partial give the head that
# rate too (optim.head_lr) and the backbone the full fine-tune's.
TASKS = {
    "sentiment": {
        "base": "configs/sentiment-minilm-full.ini",
        "title": "Sentence polarity, all-MiniLM-L6-v2",
        "strategies": {
            # configs/sentiment-minilm-head.ini: 4 epochs at 2e-3, features cached
            "head": ["--train.strategy", "head", "--train.epochs", "4", "--optim.lr", "2e-3",
                     "--train.feature_cache", "memory"],
            # 1 epoch of linear probe (head at 2e-3), then 2 epochs of everything at 5e-5
            "lp-ft": ["--train.strategy", "lp-ft", "--train.lp_epochs", "1", "--train.epochs", "3",
                      "--optim.head_lr", "2e-3"],
            # the last encoder layer (encoder.layer.5 of 6; under mean pooling the pooler is no block)
            "partial": ["--train.strategy", "partial", "--train.unfreeze_last", "1", "--train.epochs", "3",
                        "--optim.head_lr", "2e-3"],
            "full": ["--train.strategy", "full", "--train.epochs", "2"],
        },
        "prepare": lambda args: ensure_sentiment(args),
    },
    "fashion-mnist": {
        "base": "configs/fashion-mnist-b-full.ini",
        "title": "Fashion-MNIST task B (classes 5-9) from the task-A backbone, ResNet-18 layout",
        "strategies": {
            # configs/fashion-mnist-b-head.ini: SGD 0.1, features cached
            "head": ["--train.strategy", "head", "--optim.lr", "0.1", "--train.feature_cache", "memory"],
            "lp-ft": ["--train.strategy", "lp-ft", "--train.lp_epochs", "1", "--train.epochs", "3",
                      "--optim.head_lr", "0.1"],
            # the last residual block (layer4.1)
            "partial": ["--train.strategy", "partial", "--train.unfreeze_last", "1", "--optim.head_lr", "0.1"],
            "full": ["--train.strategy", "full"],
        },
        "prepare": lambda args: ensure_fashion(args),
    },
}


def ensure_sentiment(args):
    if not os.path.exists(os.path.join(ROOT, "data/sentiment/train.h5")):
        common.sh([f"{args.build}/frost-prep", "text", "--csv", ".cache/data/sentence-polarity.csv",
                   "--vocab", f"{common.MINILM}/vocab.txt", "--out", "data/sentiment"])


def ensure_fashion(args):
    for name, classes in (("a", "0-4"), ("b", "5-9")):
        if not os.path.exists(os.path.join(ROOT, f"data/fashion-mnist/{name}/train.h5")):
            common.sh([f"{args.build}/frost-prep", "fashion-mnist", "--src", "/usr/share/datasets/fashion-mnist",
                       "--out", f"data/fashion-mnist/{name}", "--classes", classes])
    if not os.path.exists(os.path.join(ROOT, "runs/fashion-mnist-a-pretrain/model.pt")):
        log("task-A backbone missing: pretraining it (configs/fashion-mnist-a-pretrain.ini)")
        common.run_logged(["launch/frost-mpirun", "--quiet", "-np", str(args.np), f"{args.build}/frost-train",
                           "--config", "configs/fashion-mnist-a-pretrain.ini", "--log.overwrite", "true"],
                          os.path.join(ROOT, args.work, "pretrain-a.log"), args.run_timeout)


# The start-up line ("770 of 22713986 parameters trainable") and a change of what trains
# ("trainable parameters 770 -> 22566146").
TRAINABLE = re.compile(r"(\d+) of \d+ parameters trainable|trainable parameters \d+ -> (\d+)")


def one_run(args, task, strategy):
    spec = TASKS[task]
    d = f"{args.work}/{task}-{strategy}"
    options = ["--config", spec["base"]] + spec["strategies"][strategy] + [
        "--log.dir", d, "--log.overwrite", "true", "--log.every", "1000", "--model.export_format", "none"]
    if args.epochs_scale != 1.0:
        epochs = int(options[options.index("--train.epochs") + 1]) if "--train.epochs" in options else None
        if epochs is not None:
            options[options.index("--train.epochs") + 1] = str(max(1, round(epochs * args.epochs_scale)))
    if args.reuse:  # the earlier run's directory, and its wall time and peak RSS from the CSV
        with open(os.path.join(ROOT, f"bench/results/strategies-{task}.csv")) as f:
            row = next(r for r in csv.DictReader(f) if r["strategy"] == strategy)
        wall, rss = float(row["wall_s"]), [float(row["rss_mib"])]
        rows = [json.loads(l) for l in open(os.path.join(ROOT, d, "metrics.jsonl"))]
        train = [r for r in rows if r.get("kind") == "train"]
    else:
        log(f"{task} {strategy}: frost-train {' '.join(options)}")
        train, wall, rss = common.launch_frost(args, args.np, d, options)
        rows = [json.loads(l) for l in open(os.path.join(ROOT, d, "metrics.jsonl"))]
    evals = [r for r in rows if r.get("kind") == "eval"]
    epochs = [r for r in rows if r.get("kind") == "epoch"]
    cache = [r for r in rows if r.get("kind") == "feature_cache"]
    with open(os.path.join(ROOT, d, "run.log")) as f:
        trainable = [int(m.group(1) or m.group(2)) for m in TRAINABLE.finditer(f.read())]
    train_s = sum(r["wall_s"] for r in epochs) + sum(r.get("extraction_s", 0.0) for r in cache)
    # comm_bytes per optimizer step, per phase (a phase = a run of steps with the same value)
    phases = []
    for r in train:
        if not phases or phases[-1] != r["comm_bytes"]:
            phases.append(r["comm_bytes"])
    acc = [r["eval_accuracy"] for r in evals]
    best = max(range(len(acc)), key=lambda i: acc[i]) if acc else None
    return {
        "task": task, "strategy": strategy,
        "trainable": " → ".join(f"{t:,}" for t in dict.fromkeys(trainable)),
        "final_acc": acc[-1] if acc else float("nan"),
        "best_acc": acc[best] if acc else float("nan"), "best_epoch": best + 1 if acc else 0,
        "epochs": len(acc), "acc_per_epoch": acc,
        "wall_s": wall, "samples_per_s": sum(r["samples"] for r in train) / train_s,
        "rss_mib": max(rss), "mb_per_step": " → ".join(f"{b / 1e6:.4f}" for b in phases),
    }


def report(task, results):
    spec = TASKS[task]
    lines = [f"{spec['title']}; {common.machine()}; revision {common.revision()}.",
             "",
             f"Command: `/usr/bin/python3 bench/strategies.py --task {task}` (base config `{spec['base']}`, "
             f"{results[0]['np']} ranks)",
             "",
             "| strategy | trainable parameters | test accuracy (final) | best (epoch) | wall time (s) "
             "| train samples/s | peak RSS per rank (MiB) | MB all-reduced per step |",
             "|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for r in results:
        lines.append(f"| `{r['strategy']}` | {r['trainable']} | {r['final_acc']:.4f} | {r['best_acc']:.4f} "
                     f"({r['best_epoch']}/{r['epochs']}) | {r['wall_s']:.0f} | {r['samples_per_s']:.0f} "
                     f"| {r['rss_mib']:.0f} | {r['mb_per_step']} |")
    return "\n".join(lines)


def plot(task, results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        ax.plot(range(1, len(r["acc_per_epoch"]) + 1), r["acc_per_epoch"], marker="o", label=r["strategy"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title(TASKS[task]["title"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=["sentiment", "fashion-mnist", "both"], default="both")
    p.add_argument("--strategies", default="head,lp-ft,partial,full",
                   help="comma-separated subset of head,lp-ft,partial,full (default: all four)")
    p.add_argument("--np", type=int, default=2, help="ranks per run (default 2)")
    p.add_argument("--epochs-scale", type=float, default=1.0,
                   help="multiply every run's epochs (at least 1); below 1 for a quick look (default 1)")
    p.add_argument("--build", default=os.environ.get("FROST_BUILD_DIR", "build"), help="build directory")
    p.add_argument("--work", default="runs/bench-strategies", help="run directories (default runs/bench-strategies)")
    p.add_argument("--run-timeout", type=float, default=3600, help="seconds one run may take (default 3600)")
    p.add_argument("--no-setup", action="store_true", help="skip launch/setup.sh")
    p.add_argument("--reuse", action="store_true",
                   help="run nothing: rebuild the report from the run directories under --work and the "
                        "wall times and peak RSS in bench/results/strategies-<task>.csv of an earlier run")
    p.add_argument("--no-plot", action="store_true", help="no PNG plot (no matplotlib needed)")
    p.add_argument("--no-doc", action="store_true", help="leave docs/results.md untouched")
    p.add_argument("--doc", default="docs/results.md", help="page whose strategies regions are rewritten")
    args = p.parse_args()
    args.models = []  # common.ensure_setup: no scaling workload data
    wanted = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for s in wanted:
        if s not in ("head", "lp-ft", "partial", "full"):
            p.error(f"--strategies: unknown strategy '{s}' (head, lp-ft, partial, full)")
    if args.np < 1:
        p.error("--np must be >= 1")
    if args.epochs_scale <= 0:
        p.error("--epochs-scale must be > 0")
    if not args.reuse:
        common.ensure_setup(args)
    os.makedirs(os.path.join(ROOT, args.work), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    tasks = ["sentiment", "fashion-mnist"] if args.task == "both" else [args.task]
    for task in tasks:
        if not args.reuse:
            TASKS[task]["prepare"](args)
        results = []
        for s in wanted:
            r = one_run(args, task, s)
            r["np"] = args.np
            results.append(r)
            log(f"{task} {s}: final {r['final_acc']:.4f}, best {r['best_acc']:.4f}, {r['wall_s']:.0f} s")
        with open(os.path.join(ROOT, f"bench/results/strategies-{task}.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[k for k in results[0] if k != "acc_per_epoch"] + ["acc_per_epoch"])
            w.writeheader()
            for r in results:
                w.writerow(dict(r, acc_per_epoch=" ".join(f"{a:.4f}" for a in r["acc_per_epoch"])))
        text = report(task, results)
        if not args.no_plot:
            png = f"bench/results/strategies-{task}.png"
            plot(task, results, os.path.join(ROOT, png))
            text += f"\n\n![test accuracy per epoch]({os.path.relpath(os.path.join(ROOT, png), os.path.dirname(os.path.join(ROOT, args.doc)))})"
        common.publish(args, text, f"<!-- strategies-{task}:begin -->", f"<!-- strategies-{task}:end -->",
                       f"Strategies compared: {task}")


if __name__ == "__main__":
    main()
