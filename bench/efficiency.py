#!/usr/bin/env python3
"""CPU efficiency of Frost: model FLOP/s per rank against an sgemm peak measured in the same run
("CPU MFU"), and the overlap of all-reduce with backward over a bucket-size sweep.

    /usr/bin/python3 bench/efficiency.py            # both parts; updates docs/benchmarks.md
    /usr/bin/python3 bench/efficiency.py --quick    # few steps, docs untouched

Workloads, data, initial weights, batch sizes and launch are those of bench/scaling.py, defined in
bench/common.py (ResNet-18 layout width 32 on Fashion-MNIST, all-MiniLM-L6-v2 on sentence
polarity; SGD; no shuffle).

MFU. For each model x strategy x ranks in --ranks, Frost runs --warmup + --steps steps. The
model FLOPs of a training step are counted, not estimated from parameters: forward hooks on
every Conv2d and Linear of the same architecture (bench/peers/ddp_peer.py's PyTorch model) add
2 x MACs for the exact input shapes, run on the exact rows every rank trains on in the timed
steps (no shuffle, so rank r's rows of step k are known; token batches cut to their own width
as Frost does), plus BERT's two attention matmuls (4 x L^2 x H per sequence and layer, which
are not modules). Training FLOPs = 3 x forward for what trains (backward = 2 x forward: one
matmul for the input gradient, one for the weight gradient; Kaplan et al. 2020, "Scaling Laws
for Neural Language Models", section 2.1) and 1 x forward for a frozen backbone (`head`). The
peak is the float32 GEMM rate (n = --gemm-n) of N processes running at once with the threads
each rank gets, the faster of LibTorch's two GEMM engines (torch.mm through the BLAS, and a 1x1
convolution through oneDNN, which runs Frost's convolutions), measured before and after the
Frost runs of that rank count; MFU
per rank = model FLOP/s per rank / the mean per-process peak. "compute MFU" divides by the
forward + backward time only (data, communication wait and optimizer excluded).

Overlap. For `full` on --sweep-ranks ranks, the bucket cap (dist.bucket_cap_mb) is swept over
--caps; from metrics.jsonl: buckets (collectives per step), allreduce_ms (the all-reduces' time
in the backend, summed), comm_wait_ms (time the step waited for them after backward), and the
share hidden behind backward = 1 - comm_wait / allreduce.

Feature cache. The shipped sentiment linear probe (configs/sentiment-minilm-head.ini: MiniLM
frozen, mean pooling) on --sweep-ranks ranks for --cache-epochs epochs without evaluation, with
train.feature_cache = off, memory and disk: the one-off extraction time, the mean epoch time
after the first (from metrics.jsonl "epoch" lines), the total wall time, the final training loss
and the peak RSS per rank.

Writes bench/results/efficiency.csv and the region between <!-- efficiency:begin --> and
<!-- efficiency:end --> of docs/benchmarks.md.
"""
import argparse
import csv
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import types

import common  # bench/common.py: set-up, inits, launch, machine description

ROOT = common.ROOT
PY = common.PY
BEGIN, END = "<!-- efficiency:begin -->", "<!-- efficiency:end -->"

GEMM_SNIPPET = r"""
import sys, time, torch
import torch.nn.functional as F
n, threads, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(threads)
def rate(fn):
    for _ in range(3): fn()
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds / 2:
        fn(); k += 1
    return 2.0 * n ** 3 * k / (time.perf_counter() - t0) / 1e9
a, b = torch.randn(n, n), torch.randn(n, n)
x, w = torch.randn(1, n, n, 1), torch.randn(n, n, 1, 1)  # the same n^3 product as a 1x1 convolution
print(rate(lambda: torch.mm(a, b)), rate(lambda: F.conv2d(x, w)))
"""


def sgemm_peak(procs, threads, n, seconds):
    """GFLOP/s per process of `procs` concurrent processes with `threads` threads each, running
    the same float32 n x n x n matrix product through each of LibTorch's two GEMM engines:
    torch.mm (the BLAS, OpenBLAS here) and a 1x1 convolution (oneDNN, which LibTorch uses for
    convolutions; its JIT kernels beat OpenBLAS's sgemm on AVX-512). The peak of a process is the
    faster of the two, as Frost's models use both engines (ResNet convolutions: oneDNN; BERT's
    Linear layers: the BLAS). Returns (mean peak, mean torch.mm rate, mean convolution rate).

    OpenBLAS's own pool is limited to `threads` too (OPENBLAS_NUM_THREADS), as frost-train does
    with train.threads (torch.set_num_threads alone does not reach it); the kernels are those of
    common.kernel_parity(), which main() applies to every process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    ps = [subprocess.Popen([PY, "-c", GEMM_SNIPPET, str(n), str(threads), str(seconds)],
                           stdout=subprocess.PIPE, text=True, env=env) for _ in range(procs)]
    rates = [[float(x) for x in p.communicate()[0].split()] for p in ps]
    return (statistics.mean(max(r) for r in rates), statistics.mean(r[0] for r in rates),
            statistics.mean(r[1] for r in rates))




def step_rows(num_samples, world, batch, steps):
    """Rows of every rank for steps 0..steps-1 without shuffling (Note [Train sampling contract])."""
    used = world * (num_samples // world)
    g = world * batch
    out = []
    for k in range(steps):
        lo, hi = k * g, min((k + 1) * g, used)
        per = (hi - lo) // world
        out.append([list(range(lo + r * per, lo + (r + 1) * per)) for r in range(world)])
    return out


def forward_flops(model_name, strategy, args, rows_per_rank_step):
    """Training FLOPs (see the module doc) summed over the given [step][rank] row lists."""
    import h5py
    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
    import ddp_peer
    spec = common.MODELS[model_name]
    ns = types.SimpleNamespace(model=model_name, width=common.RESNET_WIDTH, in_channels=1,
                               hf_config=os.path.join(ROOT, args.work, "bert-config.json"), pooling="cls")
    f = h5py.File(os.path.join(ROOT, spec["data"]), "r")
    num_classes = int(f.attrs["num_classes"])
    model = ddp_peer.build_model(ns, num_classes).eval()
    counts = {"backbone": 0, "head": 0}

    def hook(part):
        def fn(mod, inp, out):
            if isinstance(mod, torch.nn.Conv2d):
                k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
                counts[part] += 2 * out.numel() * k
            else:
                counts[part] += 2 * out.numel() * mod.in_features
        return fn
    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            mod.register_forward_hook(hook("head" if name.startswith("head") else "backbone"))
    attn = 0
    layers = hidden = 0
    if model_name == "bert":
        with open(ns.hf_config) as c:
            cfg = json.load(c)
        layers, hidden = cfg["num_hidden_layers"], cfg["hidden_size"]
    with torch.no_grad():
        for step in rows_per_rank_step:
            for rows in step:
                x = f["inputs"][rows[0]:rows[-1] + 1]  # contiguous without shuffling
                if model_name == "resnet":
                    mean, std = float(f.attrs["mean"][0]), float(f.attrs["std"][0])
                    t = (torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std
                    model(t)
                else:
                    m = f["attention_mask"][rows[0]:rows[-1] + 1]
                    used = np.nonzero(m.any(axis=0))[0]
                    width = int(used.max()) + 1 if used.size else 1
                    ids = torch.from_numpy(x[:, :width].astype(np.int64))
                    mask = torch.from_numpy(m[:, :width].astype(np.int64))
                    model(ids, mask)
                    attn += 4 * len(rows) * width * width * hidden * layers
    backbone = counts["backbone"] + attn
    head = counts["head"]
    return 3 * (backbone + head) if strategy == "full" else backbone + 3 * head


def run_mfu(args, inits):
    cores = os.cpu_count()
    rows = []
    for np_ in args.ranks:
        threads = max(1, cores // np_)
        peak_before, mm_before, conv_before = sgemm_peak(np_, threads, args.gemm_n, args.gemm_seconds)
        cells = []
        for model in args.models:
            for strategy in args.strategies:
                tag = f"mfu-{model}-{strategy}-{np_}r"
                r = common.run_frost(args, model, strategy, np_, threads, inits[model], tag)
                num = int(subprocess.run([PY, "-c", "import h5py,sys; print(h5py.File(sys.argv[1])['labels'].shape[0])",
                                          os.path.join(ROOT, common.MODELS[model]["data"])],
                                         capture_output=True, text=True, check=True).stdout)
                batch = common.MODELS[model]["batch"]
                all_steps = step_rows(num, np_, batch, args.warmup + args.steps)
                flops = forward_flops(model, strategy, args, all_steps[args.warmup:])
                cells.append((model, strategy, r, flops))
        peak_after, mm_after, conv_after = sgemm_peak(np_, threads, args.gemm_n, args.gemm_seconds)
        peak = (peak_before + peak_after) / 2
        mm_peak, conv_peak = (mm_before + mm_after) / 2, (conv_before + conv_after) / 2
        for model, strategy, r, flops in cells:
            step_s = r["step_ms"] / 1e3 * args.steps  # rank 0's timed wall time
            compute_s = (r["forward_ms"] + r["backward_ms"]) / 1e3 * args.steps
            per_rank = flops / np_ / step_s / 1e9
            rows.append({"model": model, "strategy": strategy, "ranks": np_, "threads": threads,
                         "samples_per_s": r["samples_per_s"], "gflop_per_sample": flops / (np_ * batch_of(model) * args.steps) / 1e9,
                         "gflops_per_rank": per_rank, "peak_gflops_per_rank": peak,
                         "peak_before": peak_before, "peak_after": peak_after,
                         "peak_mm": mm_peak, "peak_conv": conv_peak,
                         "mfu": per_rank / peak,
                         "compute_mfu": flops / np_ / compute_s / 1e9 / peak,
                         "step_ms": r["step_ms"], "forward_ms": r["forward_ms"], "backward_ms": r["backward_ms"],
                         "data_ms": r["data_ms"], "comm_wait_ms": r["comm_wait_ms"], "optimizer_ms": r["optimizer_ms"]})
            common.log(f"MFU {model} {strategy} {np_}r: {per_rank:.1f} GFLOP/s per rank of {peak:.1f} "
                        f"({rows[-1]['mfu']:.1%}, compute {rows[-1]['compute_mfu']:.1%})")
    return rows


def batch_of(model):
    return common.MODELS[model]["batch"]


def run_sweep(args, inits):
    cores = os.cpu_count()
    np_ = args.sweep_ranks
    threads = max(1, cores // np_)
    rows = []
    for model in args.models:
        for cap in args.caps:
            tag = f"sweep-{model}-{cap:g}mb-{np_}r"
            r = common.run_frost(args, model, "full", np_, threads, inits[model], tag,
                                  extra=["--dist.bucket_cap_mb", f"{cap:g}"])
            hidden = 1 - r["comm_wait_ms"] / r["allreduce_ms"] if r["allreduce_ms"] > 0 else float("nan")
            rows.append({"model": model, "ranks": np_, "bucket_cap_mb": cap, "buckets": r["collectives"],
                         "samples_per_s": r["samples_per_s"], "step_ms": r["step_ms"],
                         "backward_ms": r["backward_ms"], "allreduce_ms": r["allreduce_ms"],
                         "comm_wait_ms": r["comm_wait_ms"], "hidden": hidden, "mb_per_step": r["mb_per_step"]})
            common.log(f"sweep {model} cap {cap:g} MiB: {r['collectives']:.0f} buckets, {r['samples_per_s']:.1f} samples/s, "
                        f"all-reduce {r['allreduce_ms']:.1f} ms, wait {r['comm_wait_ms']:.1f} ms ({hidden:.0%} hidden)")
    return rows


def run_cache(args):
    np_ = args.sweep_ranks
    rows = []
    for mode in ("off", "memory", "disk"):
        d = f"{args.work}/cache-{mode}-{np_}r"
        os.makedirs(os.path.join(ROOT, d), exist_ok=True)
        cmd = [f"{args.build}/frost-train", "--config", "configs/sentiment-minilm-head.ini", "--data.test", "",
               "--train.epochs", str(args.cache_epochs), "--train.feature_cache", mode,
               "--log.dir", d, "--log.overwrite", "true", "--log.every", "100000"]
        wall = common.run_logged(common.mpirun(np_, f"{d}/rss", cmd), os.path.join(ROOT, d, "run.log"),
                                  args.run_timeout)
        lines = [json.loads(l) for l in open(os.path.join(ROOT, d, "metrics.jsonl"))]
        epochs = [e for e in lines if e.get("kind") == "epoch"]
        extract = sum(e["extraction_s"] for e in lines if e.get("kind") == "feature_cache")
        rows.append({"mode": mode, "ranks": np_, "epochs": len(epochs), "extract_s": extract,
                     "first_epoch_s": epochs[0]["wall_s"],
                     "later_epoch_s": statistics.mean(e["wall_s"] for e in epochs[1:]) if len(epochs) > 1 else float("nan"),
                     "wall_s": wall, "final_train_loss": epochs[-1]["train_loss"],
                     "rss_mib_max": max(common.read_rss(os.path.join(ROOT, d, "rss"), np_))})
        common.log(f"cache {mode}: extraction {extract:.1f} s, epoch 1 {rows[-1]['first_epoch_s']:.1f} s, later "
                    f"{rows[-1]['later_epoch_s']:.2f} s, wall {wall:.0f} s, loss {rows[-1]['final_train_loss']:.6f}")
    return rows


def markdown(mfu, sweep, meta, cache=()):
    out = [f"Measured {meta['date']} (Frost {meta['revision']}) with `{meta['command']}` in "
           f"{meta['minutes']:.0f} min. Machine: {meta['machine']}. Load average before / after: "
           f"{meta['load_before']} / {meta['load_after']}. {meta['note']}".rstrip(), ""]
    if mfu:
        out += [f"**CPU MFU** ({meta['warmup']} warm-up + {meta['steps']} timed steps per run; peak = float32 GEMM "
                f"n = {meta['gemm_n']} in N concurrent processes with the same threads, the faster of torch.mm (OpenBLAS) "
                "and a 1×1 convolution (oneDNN), mean of before and after the runs):", "",
                "| model | strategy | ranks × threads | samples/s | GFLOP per sample | GFLOP/s per rank | GEMM peak per rank (GFLOP/s): max (before / after), OpenBLAS, oneDNN | MFU | compute MFU | step ms (data / fwd / bwd / comm wait / optim) |",
                "|:--|:--|:--|--:|--:|--:|--:|--:|--:|:--|"]
        for r in mfu:
            out.append(f"| {r['model']} | {r['strategy']} | {r['ranks']} × {r['threads']} | {r['samples_per_s']:.1f} | "
                       f"{r['gflop_per_sample']:.3f} | {r['gflops_per_rank']:.1f} | {r['peak_gflops_per_rank']:.1f} "
                       f"({r['peak_before']:.0f} / {r['peak_after']:.0f}), {r['peak_mm']:.0f}, {r['peak_conv']:.0f} | "
                       f"{r['mfu']:.1%} | {r['compute_mfu']:.1%} | "
                       f"{r['step_ms']:.0f} ({r['data_ms']:.1f} / {r['forward_ms']:.0f} / {r['backward_ms']:.0f} / "
                       f"{r['comm_wait_ms']:.1f} / {r['optimizer_ms']:.1f}) |")
        out.append("")
    if sweep:
        out += [f"**All-reduce overlap and bucket size** (`full`, {sweep[0]['ranks']} ranks; per step, means over the "
                "timed steps):", "",
                "| model | bucket cap (MiB) | buckets | samples/s | backward ms | all-reduce ms | comm wait ms | hidden behind backward | MB/step |",
                "|:--|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for r in sweep:
            out.append(f"| {r['model']} | {r['bucket_cap_mb']:g} | {r['buckets']:.0f} | {r['samples_per_s']:.1f} | "
                       f"{r['backward_ms']:.0f} | {r['allreduce_ms']:.1f} | {r['comm_wait_ms']:.1f} | "
                       f"{r['hidden']:.0%} | {r['mb_per_step']:.2f} |")
        out.append("")
    if cache:
        out += [f"**Feature cache** (sentiment linear probe, MiniLM frozen, {cache[0]['ranks']} ranks, "
                f"{cache[0]['epochs']} epochs, no evaluation):", "",
                "| train.feature_cache | extraction s | epoch 1 s | later epochs s (mean) | total wall s | final train loss | peak RSS per rank (MiB) |",
                "|:--|--:|--:|--:|--:|--:|--:|"]
        for r in cache:
            out.append(f"| `{r['mode']}` | {r['extract_s']:.1f} | {r['first_epoch_s']:.1f} | {r['later_epoch_s']:.2f} | "
                       f"{r['wall_s']:.0f} | {r['final_train_loss']:.6f} | {r['rss_mib_max']:.0f} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 + 3 steps, 1 and 2 ranks, 2 caps; docs untouched")
    p.add_argument("--parts", default="mfu,sweep,cache")
    p.add_argument("--cache-epochs", type=int, default=3)
    p.add_argument("--ranks", default="1,2", help="rank counts of the MFU part")
    p.add_argument("--models", default="resnet,bert")
    p.add_argument("--strategies", default="full,head")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--caps", default="1,5,25,100", help="bucket caps in MiB for the sweep")
    p.add_argument("--sweep-ranks", type=int, default=2)
    p.add_argument("--gemm-n", type=int, default=1024)
    p.add_argument("--gemm-seconds", type=float, default=3.0)
    p.add_argument("--run-timeout", type=int, default=1800)
    p.add_argument("--work", default=None)
    p.add_argument("--csv", default=None)
    p.add_argument("--doc", default="docs/benchmarks.md")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--no-setup", action="store_true")
    p.add_argument("--build", default=os.environ.get("FROST_BUILD_DIR", "build"))
    args = p.parse_args()
    args.no_plot = True
    args.ranks = [int(x) for x in args.ranks.split(",")]
    args.models = [m for m in args.models.split(",") if m]
    args.strategies = [s for s in args.strategies.split(",") if s]
    args.caps = [float(x) for x in args.caps.split(",")]
    args.warmup = args.warmup if args.warmup is not None else (2 if args.quick else 5)
    args.steps = args.steps if args.steps is not None else (3 if args.quick else 20)
    args.work = args.work or ("runs/bench-efficiency-quick" if args.quick else "runs/bench-efficiency")
    args.csv = args.csv or (f"{args.work}/efficiency.csv" if args.quick else "bench/results/efficiency.csv")
    if args.quick:
        args.no_doc = True
        args.cache_epochs = 2
        args.caps = args.caps[:2]
        args.gemm_seconds = 1.0
    parts = args.parts.split(",")

    t0 = time.time()
    common.ensure_setup(args)
    common.kernel_parity()  # the same OpenBLAS kernels as the scaling runs (Note [Kernel parity])
    load_before = common.load_avg()
    inits = common.make_inits(args)
    mfu = run_mfu(args, inits) if "mfu" in parts else []
    sweep = run_sweep(args, inits) if "sweep" in parts else []
    cache = run_cache(args) if "cache" in parts else []
    load_after = common.load_avg()
    os.makedirs(os.path.dirname(os.path.join(ROOT, args.csv)), exist_ok=True)
    with open(os.path.join(ROOT, args.csv), "w", newline="") as f:
        for name, rows in (("mfu", mfu), ("sweep", sweep), ("cache", cache)):
            if not rows:
                continue
            f.write(f"# {name}\n")
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    busy = max(float(x) for x in (load_before + " " + load_after).split()) > 0.5
    command = "/usr/bin/python3 bench/efficiency.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--no-setup")
    meta = {"date": datetime.date.today().isoformat(), "command": command, "machine": common.machine(),
            "revision": common.revision(), "load_before": load_before, "load_after": load_after,
            "minutes": (time.time() - t0) / 60, "warmup": args.warmup, "steps": args.steps, "gemm_n": args.gemm_n,
            "note": "The load average shows other work on the machine during the run; absolute numbers may be "
                    "perturbed." if busy else ""}
    common.publish(args, markdown(mfu, sweep, meta, cache), BEGIN, END, "CPU efficiency and all-reduce overlap")


if __name__ == "__main__":
    main()
