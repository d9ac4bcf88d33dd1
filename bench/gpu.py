#!/usr/bin/env python3
"""Frost against PyTorch DDP on one GPU (docs/benchmarks.md, "GPU: Frost and PyTorch DDP on one
GPU"): BERT-base (12 layers, hidden 768, sequence 128, random weights) and ResNet-50 at 224x224
fine-tuning on synthetic data of real shapes in Frost's HDF5 schema, written by
`frost-prep synthetic`.

    python3 bench/gpu.py                      # every cell (GPU; estimated 30-45 min on an H200)
    python3 bench/gpu.py --quick              # the GPU check kit's step (estimated 3 min)
    python3 bench/gpu.py --device cpu --quick # tiny layouts on the CPU: a test of the harness

Per cell (model, strategy, precision, micro-batch), Frost and the peer (bench/peers/
ddp_gpu_peer.py: the idiomatic DDP script; a second column with torch.compile in the full mode)
run one after the other from the same initial weights on the same data in the same order,
alternating which goes first; the full mode runs each twice and keeps the best. Reported:
samples/s of each and their ratio; MFU against GEMM peaks measured in the same run on the same
GPU (bf16 8192^3; fp32 with and without TF32); the step breakdown (data wait, H2D, forward,
backward, communication wait, optimizer: CUDA events on a GPU); peak GPU memory; the loss check
(per-step loss of Frost against the peer's, relative tolerance LOSS_TOL). Then the linear probe:
Frost's head strategy with train.feature_cache = memory over 10 epochs against the DDP linear
probe over 10 epochs (which runs the frozen backbone every epoch). Then the loader check:
`frost-bench loader` samples/s on the ResNet-50 file against the samples/s the Frost cell
consumed.

Output: OUTDIR/report.md (machine, versions, date, command, tables), OUTDIR/runs.csv (one row per
run), OUTDIR/cells.csv (one row per cell), every run's log under OUTDIR/work; the report also
goes into docs/benchmarks.md between <!-- gpu:begin --> and <!-- gpu:end --> unless --no-docs.
Exit status: 0 when every run that was started ended and every loss check passed, 1 otherwise,
2 for bad arguments, 3 when no cell could run in --budget-s. Cells left out for lack of time
are listed, not failed. The last line says the same: "gpu.py: PASS|FAIL|NOT-RUN: ...".

Runs from the repository (binaries in build/, the venv's Python) and from a GPU check-kit bundle
(launch/bundle.sh: binaries in BUNDLE/bin, frost-mpirun from FROST_MPIRUN or
BUNDLE/src/launch; the peer runs with the Python that runs this script, FROST_NODE_PYTHON in the
kit). Needs torch only: without h5py the peer reads the raw copy frost-prep writes (--raw), and
the report says so.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# In the repository, run in launch/setup.sh's venv (torch 2.11, the LibTorch Frost links), as the
# other drivers do ($FROST_VENV as for launch/setup.sh, else .cache/venv); in a bundle there is no
# venv and the Python that started this script is used.
_VENV_PY = os.path.join(os.path.abspath(os.environ.get("FROST_VENV") or os.path.join(ROOT, ".cache", "venv")),
                        "bin", "python")
if (os.access(_VENV_PY, os.X_OK) and os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(_VENV_PY)))
        and not os.environ.get("FROST_NODE_PYTHON")):
    os.execv(_VENV_PY, [_VENV_PY] + sys.argv)
PEER = os.path.join(HERE, "peers", "ddp_gpu_peer.py")
BEGIN, END = "<!-- gpu:begin -->", "<!-- gpu:end -->"
SECTION = "GPU: Frost and PyTorch DDP on one GPU"

# Per-step loss tolerance of the loss check, relative to the peer's loss, by device and precision.
# Both frameworks start from the same weights and see the same batches, but run different kernels
# (cuDNN/cuBLAS algorithm choice, fused or unfused normalisation and attention, different
# reduction orders), so their losses agree to rounding, which grows over the steps:
#   fp32 on a GPU: 1e-3. cuDNN convolutions use TF32 by default in both (10-bit significand,
#     relative rounding ~5e-4 per product, averaged over long sums) and the algorithm choice
#     differs; differences of ~1e-5..1e-4 are expected (not yet measured on a GPU).
#   bf16: 2e-2. bf16 keeps 8 significant bits (relative rounding 2^-9 ~ 2e-3 per operation); the
#     two frameworks round at different places (which ops autocast lowers, fused kernels keeping
#     fp32 intermediates), so logits differ by a few bf16 ulps and the loss by up to ~1e-2 after
#     tens of optimizer steps.
#   fp32 on the CPU: 1e-4. Same BLAS and the same aten kernels; only the order of a few reductions
#     differs (measured: equal to the last bit for both models; bf16 autocast on the CPU: BERT
#     within 3e-4, ResNet-50 equal).
# A broken comparison (other weights, another data order or normalisation) fails the check. How
# strong it is on this data, where random labels keep the loss near ln K: the same comparison is
# also made against the peer's losses one step later (what a data order off by one batch gives);
# when that passes too, the report marks the check "weak".
LOSS_TOL = {("cuda", "fp32"): 1e-3, ("cuda", "bf16"): 2e-2, ("cpu", "fp32"): 1e-4, ("cpu", "bf16"): 2e-2}

BERT_BASE = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
             "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
             "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
             "initializer_range": 0.02, "pad_token_id": 0, "position_embedding_type": "absolute",
             "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
BERT_TINY = dict(BERT_BASE, vocab_size=2048, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512)

# Workloads per device: data shape and rows, model options, optimizer (the peer uses the same
# values with PyTorch's implementation: AdamW for BERT, SGD with momentum 0.9 for ResNet-50).
WORKLOADS = {
    "cuda": {
        "bert": {"kind": "tokens", "seq_len": 128, "rows": 4096, "quick_rows": 2048, "classes": 2,
                 "config": BERT_BASE, "batches": [32, 64], "optim": "adamw", "lr": 1e-4, "wd": 0.01},
        "resnet50": {"kind": "image", "shape": [3, 224, 224], "rows": 2048, "quick_rows": 1024, "classes": 10,
                     "width": 64, "batches": [64, 128], "optim": "sgd", "lr": 0.01, "wd": 5e-4},
    },
    "cpu": {
        "bert": {"kind": "tokens", "seq_len": 32, "rows": 64, "quick_rows": 64, "classes": 2,
                 "config": BERT_TINY, "batches": [8], "optim": "adamw", "lr": 1e-4, "wd": 0.01},
        "resnet50": {"kind": "image", "shape": [3, 32, 32], "rows": 48, "quick_rows": 48, "classes": 10,
                     "width": 8, "batches": [8], "optim": "sgd", "lr": 0.01, "wd": 5e-4},
    },
}
# Epochs of the linear-probe comparison (the CPU mode, a test of the harness, keeps it short).
PROBE_EPOCHS = {"cuda": 10, "cpu": 3}


def log(msg):
    print(f"[gpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def out_of(cmd, timeout=60):
    try:
        return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fmt(v, spec=".0f", none="n/a"):
    return none if v is None else format(v, spec)


# ---------------------------------------------------------------------------------- locating
class Tools:
    """Where the binaries, mpirun wrapper and Python are: a repository checkout or a bundle."""

    def __init__(self, args):
        self.bundle = os.path.exists(os.path.join(ROOT, "manifest.txt"))
        cands = [args.bin] if args.bin else [os.path.join(ROOT, "build"), os.path.join(ROOT, "bin")]
        self.bin = next((d for d in cands if os.access(os.path.join(d, "frost-train"), os.X_OK)), None)
        if self.bin is None:
            raise SystemExit(f"gpu.py: no frost-train in {' or '.join(cands)} (build Frost, or pass --bin)")
        mpirun = os.environ.get("FROST_MPIRUN") or next(
            (p for p in (os.path.join(ROOT, "launch", "frost-mpirun"), os.path.join(ROOT, "src", "launch", "frost-mpirun"))
             if os.path.exists(p)), None)
        if mpirun is None:
            raise SystemExit("gpu.py: no frost-mpirun (set FROST_MPIRUN)")
        self.mpirun = mpirun
        self.python = sys.executable
        self.help = subprocess.run([self.exe("frost-train"), "--help"], capture_output=True, text=True).stdout

    def exe(self, name):
        return os.path.join(self.bin, name)

    def has_key(self, key):
        return f"--{key}" in self.help

    def default(self, key):
        """The default frost-train --help prints for `key` ("--key arg (=VALUE)"), or None."""
        m = re.search(r"--" + re.escape(key) + r" arg \(=([^)]*)\)", self.help)
        return m.group(1) if m else None


# ---------------------------------------------------------------------------------- runs
class RunFailed(Exception):
    pass


class BudgetSpent(Exception):
    """A run that --budget-s left no time for, or that the budget ended: left out, not failed."""


def run_logged(cmd, log_path, timeout_s):
    """Runs cmd (its output to log_path, the command on its first line) in its own process group,
    killed on expiry. Returns the wall seconds; raises RunFailed naming the log."""
    t0 = time.time()
    with open(log_path, "w") as f:
        f.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=max(timeout_s, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise RunFailed(f"did not end within {timeout_s:.0f} s (log {log_path})")
    if rc != 0:
        with open(log_path) as f:
            lines = [l.strip() for l in f.read().splitlines() if l.strip()]
        err = next((l for l in reversed(lines) if "error" in l.lower()), lines[-1] if lines else "")
        raise RunFailed(f"exit {rc}: {err[:200]} (log {log_path})")
    return time.time() - t0


class Harness:
    def __init__(self, args, tools):
        self.a, self.t = args, tools
        self.dev = args.device
        self.wl = WORKLOADS[self.dev]
        self.work = os.path.join(args.outdir, "work")
        self.scratch = args.scratch or os.path.join(self.work, "scratch")
        os.makedirs(self.work, exist_ok=True)
        os.makedirs(self.scratch, exist_ok=True)
        self.t_end = time.time() + args.budget_s if args.budget_s else None
        self.failures, self.skipped, self.runs = [], [], []
        self.data, self.inits = {}, {}

    def left(self):
        return None if self.t_end is None else self.t_end - time.time()

    def run(self, cmd, log_path, want_s):
        """run_logged with a time limit of want_s, or what --budget-s leaves when that is less;
        raises BudgetSpent when the budget leaves no time or ends the run."""
        left = self.left()
        if left is not None and left < 5:
            raise BudgetSpent(f"{os.path.basename(log_path)}: no time left")
        limit = want_s if left is None else min(want_s, left)
        try:
            return run_logged(cmd, log_path, limit)
        except RunFailed as e:
            if limit < want_s and str(e).startswith("did not end"):
                raise BudgetSpent(f"ended by --budget-s: {e}") from e
            raise

    # ---- preparation
    def prepare(self, model, rows):
        """frost-prep synthetic data (with its raw copy) and make-init weights for `model`."""
        spec = self.wl[model]
        d = os.path.join(self.scratch, "data", model)
        if model not in self.data:
            cmd = [self.t.exe("frost-prep"), "synthetic", "--kind", spec["kind"], "--rows", str(rows),
                   "--num-classes", str(spec["classes"]), "--seed", "0", "--out", d, "--raw"]
            if spec["kind"] == "image":
                cmd += ["--shape", ",".join(map(str, spec["shape"]))]
            else:
                cmd += ["--seq-len", str(spec["seq_len"]), "--vocab-size", str(spec["config"]["vocab_size"])]
            self.run(cmd, os.path.join(self.work, f"prep-{model}.log"), 300)
            self.data[model] = os.path.join(d, "train.h5")
        if model not in self.inits:
            init = os.path.join(self.scratch, f"init-{model}.pt")
            cmd = [self.t.python, PEER, "make-init", "--model", model, "--num-classes", str(spec["classes"]),
                   "--seed", "0", "--out", init] + self.model_args(model)
            self.run(cmd, os.path.join(self.work, f"init-{model}.log"), 300)
            self.inits[model] = init

    def model_args(self, model):
        spec = self.wl[model]
        if model == "bert":
            path = os.path.join(self.work, "bert-config.json")
            with open(path, "w") as f:
                json.dump(spec["config"], f, indent=2)
            return ["--hf-config", path]
        return ["--width", str(spec["width"]), "--in-channels", str(spec["shape"][0])]

    # ---- one Frost run
    def frost(self, cell, tag):
        model, strategy, prec, batch = cell["model"], cell["strategy"], cell["precision"], cell["batch"]
        spec = self.wl[model]
        d = os.path.join(self.work, tag)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        o = ["--data.train", self.data[model], "--data.test", "", "--data.batch_size", str(batch),
             "--data.shuffle", "false", "--data.drop_last", "true", "--train.strategy", strategy,
             "--train.seed", "0", "--optim.name", spec["optim"], "--optim.lr", str(spec["lr"]),
             "--optim.weight_decay", str(spec["wd"]), "--optim.schedule", "constant", "--optim.warmup_steps", "0",
             "--model.init", self.inits[model], "--model.export_format", "none", "--log.dir", d,
             "--log.overwrite", "true", "--log.level", "warn", "--log.every", str(self.log_every())]
        if spec["optim"] == "sgd":
            o += ["--optim.momentum", "0.9"]
        if cell.get("epochs"):
            o += ["--train.epochs", str(cell["epochs"]), "--train.feature_cache", "memory"]
        else:
            o += ["--train.epochs", "100000", "--train.max_steps", str(self.a.warmup + self.a.steps)]
        if self.t.has_key("train.device"):
            o += ["--train.device", self.dev]
        if self.t.has_key("dist.backend"):
            o += ["--dist.backend", "nccl" if self.dev == "cuda" else "mpi"]
        if self.t.has_key("train.precision"):
            o += ["--train.precision", prec]
        if self.t.has_key("optim.no_decay"):  # the peer decays every parameter, as Frost did before
            o += ["--optim.no_decay", "none"]
        if model == "bert":
            o += ["--model.backbone", "bert", "--model.hf_config", os.path.join(self.work, "bert-config.json"),
                  "--model.pooling", "cls"]
        else:
            o += ["--model.backbone", "resnet50", "--model.width", str(spec["width"])]
        cmd = [self.t.mpirun, "--quiet", "-np", "1", self.t.exe("frost-train")] + o
        wall = self.run(cmd, os.path.join(d, "run.log"), self.a.run_timeout)
        rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
        drop_large_files(d)
        train = [r for r in rows if r.get("kind") == "train" and not r.get("skipped")]
        epochs = [r for r in rows if r.get("kind") == "epoch"]
        r = {"framework": "frost", "wall_run_s": wall, "loss": [x["loss"] for x in train],
             "gpu_mem_peak_mib": max((e["gpu_mem_peak_mib"] for e in epochs if "gpu_mem_peak_mib" in e), default=None),
             "gpu_mem_reserved_peak_mib": max((e["gpu_mem_reserved_peak_mib"] for e in epochs
                                               if "gpu_mem_reserved_peak_mib" in e), default=None)}
        if cell.get("epochs"):
            fc = next((x for x in rows if x.get("kind") == "feature_cache"), {})
            r["extraction_s"] = fc.get("extraction_s")
            r["wall_s"] = (fc.get("extraction_s") or 0.0) + sum(e["wall_s"] for e in epochs)
            r["samples_per_s"] = sum(x["samples"] for x in train) / r["wall_s"]
            r["epochs"] = len(epochs)
            return r
        timed = [x for x in train if x["step"] > self.a.warmup]
        if len(timed) != self.a.steps:
            raise RunFailed(f"{d}/metrics.jsonl: expected {self.a.steps} timed steps, found {len(timed)}")
        step_ms = sum(x["step_ms"] for x in timed)
        mean = lambda k: (sum(x[k] for x in timed) / len(timed)) if all(k in x for x in timed) else None
        r.update({"samples_per_s": sum(x["samples"] for x in timed) / (step_ms / 1e3), "step_ms": step_ms / len(timed),
                  "data_ms": mean("data_wait_ms"), "h2d_ms": mean("h2d_ms"), "forward_ms": mean("forward_ms"),
                  "backward_ms": mean("backward_ms"), "comm_wait_ms": mean("comm_wait_ms"),
                  "optimizer_ms": mean("optimizer_ms"), "timing": timed[-1].get("timing")})
        return r

    # ---- one peer run
    def peer(self, cell, tag, compile_=False):
        model, spec = cell["model"], self.wl[cell["model"]]
        d = os.path.join(self.work, tag)
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, "result.json")
        cmd = [self.t.python, PEER, "train", "--model", model, "--strategy", cell["strategy"], "--device", self.dev,
               "--precision", cell["precision"], "--data", self.data[model], "--init", self.inits[model],
               "--batch-size", str(cell["batch"]), "--lr", str(spec["lr"]), "--weight-decay", str(spec["wd"]),
               "--workers", str(self.a.workers), "--log-every", str(self.log_every()), "--port", str(free_port()),
               "--out", out] + self.model_args(model)
        if cell.get("epochs"):
            cmd += ["--epochs", str(cell["epochs"])]
        else:
            cmd += ["--warmup", str(self.a.warmup), "--steps", str(self.a.steps), "--count-flops"]
        if compile_:
            cmd.append("--compile")
        if self.a.peer_raw:
            cmd.append("--raw")
        if self.dev == "cpu":
            env_threads = str(max(1, (os.cpu_count() or 2)))
            cmd += ["--threads", env_threads]
        self.run(cmd, os.path.join(d, "run.log"), self.a.run_timeout)
        with open(out) as f:
            return json.load(f)

    def log_every(self):
        return max(1, self.a.warmup)

    # ---- one cell: both frameworks, alternating, best of --repeats
    def cell(self, i, cell):
        name = cell_name(cell)
        if self.left() is not None and self.left() < self.a.min_cell_s:
            self.skipped.append(f"{name}: not run, {max(0, self.left()):.0f} s of --budget-s left")
            log(f"skip {name}: time budget")
            return None
        log(f"cell {name}")
        kinds = ["frost", "peer"] + (["compile"] if self.a.compile and not cell.get("epochs") else [])
        best, errors = {}, {}
        for rep in range(self.a.repeats):
            order = kinds if (i + rep) % 2 == 0 else list(reversed(kinds))
            for k in order:
                if k in errors:
                    continue
                tag = f"{name}-{k}-{rep}"
                try:
                    r = self.frost(cell, tag) if k == "frost" else self.peer(cell, tag, compile_=(k == "compile"))
                except BudgetSpent as e:
                    self.skipped.append(f"{name} {k} (run {rep + 1}): {e}")
                    errors[k] = "left out for time"
                    log(f"  {k}: left out for time")
                    continue
                except RunFailed as e:
                    errors[k] = str(e)
                    log(f"  {k}: FAILED {e}")
                    continue
                r["rep"], r["order"] = rep, order.index(k)
                self.runs.append(dict(cell=name, kind=k, **{x: r.get(x) for x in RUN_KEYS}))
                log(f"  {k} (run {rep + 1}): {r['samples_per_s']:.1f} samples/s")
                if k not in best or r["samples_per_s"] > best[k]["samples_per_s"]:
                    best[k] = r
        for k, e in errors.items():
            # "where it works": a failed compile is reported, not a failure; nor is a run the
            # budget left out
            if k == "compile" or e == "left out for time":
                continue
            self.failures.append(f"{name} {k}: {e}")
        return {"cell": cell, "best": best, "errors": errors}


def drop_large_files(d, limit=8 << 20):
    """Removes what a run wrote that is over `limit` bytes (model.pt, checkpoints: up to 440 MB for
    BERT-base), keeping logs and metrics."""
    for dirpath, _, names in os.walk(d):
        for n in names:
            path = os.path.join(dirpath, n)
            if os.path.isfile(path) and os.path.getsize(path) > limit:
                os.remove(path)


RUN_KEYS = ["framework", "rep", "order", "samples_per_s", "step_ms", "wall_s", "data_ms", "h2d_ms", "forward_ms",
            "backward_ms", "comm_wait_ms", "optimizer_ms", "timing", "gpu_mem_peak_mib", "gpu_mem_reserved_peak_mib",
            "flops_per_sample", "reader", "extraction_s"]


def cell_name(c):
    s = f"{c['model']}-{c['strategy']}-{c['precision']}-mb{c['batch']}"
    return s + (f"-cache{c['epochs']}ep" if c.get("epochs") else "")


def loss_check(frost, peer, tol):
    """(passed, max relative difference, the same against the peer shifted by one step, steps)."""
    a, b = frost.get("loss") or [], peer.get("loss") or []
    n = min(len(a), len(b))
    if n == 0:
        return False, None, None, 0
    rel = lambda x, y: abs(x - y) / max(abs(y), 1e-6)
    worst = max(rel(a[i], b[i]) for i in range(n))
    shifted = max(rel(a[i], b[i + 1]) for i in range(n - 1)) if n > 1 else None
    return worst <= tol, worst, shifted, n


# ---------------------------------------------------------------------------------- plan
def plan(args, wl):
    """The cells to run, and the list of what --quick leaves out."""
    if args.quick:
        cells = [{"model": "bert", "strategy": "full", "precision": args.precisions[0], "batch": wl["bert"]["batches"][0]},
                 {"model": "resnet50", "strategy": "full", "precision": args.precisions[0],
                  "batch": wl["resnet50"]["batches"][0]}]
        probes = [{"model": "resnet50", "strategy": "head", "precision": args.precisions[0],
                   "batch": wl["resnet50"]["batches"][-1], "epochs": PROBE_EPOCHS[args.device]}]
        skips = ["fp32" if args.device == "cuda" else None, "the larger micro-batches",
                 "head-strategy step cells", "the BERT probe", "the torch.compile column", "the second run of each cell"]
        return cells, probes, [s for s in skips if s]
    cells = []
    for model in ("bert", "resnet50"):
        for prec in args.precisions:
            for b in wl[model]["batches"]:
                cells.append({"model": model, "strategy": "full", "precision": prec, "batch": b})
        cells.append({"model": model, "strategy": "head", "precision": args.precisions[0], "batch": wl[model]["batches"][-1]})
    probes = [{"model": m, "strategy": "head", "precision": args.precisions[0], "batch": wl[m]["batches"][-1],
               "epochs": PROBE_EPOCHS[args.device]} for m in ("bert", "resnet50")]
    return cells, probes, []


# ---------------------------------------------------------------------------------- environment
def gemm_peaks(h):
    out = os.path.join(h.work, "gemm.json")
    cmd = [h.t.python, PEER, "gemm", "--device", h.dev, "--out", out]
    cmd += ["--n", "8192", "--iters", "20"] if h.dev == "cuda" else ["--n", "1024", "--iters", "5"]
    try:
        h.run(cmd, os.path.join(h.work, "gemm.log"), 180)
        with open(out) as f:
            return json.load(f)
    except BudgetSpent as e:
        h.skipped.append(f"GEMM peaks: {e}")
    except RunFailed as e:
        h.failures.append(f"gemm: {e}")
    return {}


def versions(h, peaks):
    """torch/CUDA/NCCL/cuDNN versions and the GPU name, as the gemm run reported them (one
    Python start less), else asked of the peer's Python."""
    if peaks.get("torch"):
        return {k: peaks.get(k) for k in ("torch", "cuda", "nccl", "cudnn", "gpu")}
    code = ("import json, torch; c = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
            "'cuda': torch.version.cuda, 'nccl': '.'.join(map(str, torch.cuda.nccl.version())) if c else None, "
            "'cudnn': torch.backends.cudnn.version() if c else None, 'gpu': torch.cuda.get_device_name() if c else None}))")
    try:
        return json.loads(subprocess.run([h.t.python, "-c", code], capture_output=True, text=True, timeout=120).stdout)
    except (ValueError, subprocess.SubprocessError):
        return {}


def revision():
    manifest = os.path.join(ROOT, "manifest.txt")
    if os.path.exists(manifest):
        with open(manifest) as f:
            kv = dict(l.strip().split("=", 1) for l in f if "=" in l and not l.startswith("#"))
        return f"bundle of {kv.get('frost_commit', '?')[:12]} ({kv.get('build_type', '?')}, built {kv.get('built_utc', '?')})"
    rev = out_of("git rev-parse --short HEAD")
    if not rev:
        return "unknown"
    dirty = out_of("git status --porcelain --untracked-files=no -- src CMakeLists.txt")
    return rev + (" with uncommitted changes under src/" if dirty else "")


def machine():
    cpu = out_of("lscpu | sed -n 's/^Model name: *//p'") or platform.processor()
    mem = out_of("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    gpu = out_of("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1")
    return f"{os.cpu_count()} CPUs ({cpu}), {mem}" + (f"; GPU {gpu}" if gpu else "; no GPU")


def loader_check(h, frost_cell):
    """frost-bench loader on the ResNet-50 file with the default settings (prefetch 2, batch of
    the Frost cell): samples/s of the shuffled loader phase."""
    if "resnet50" not in h.data or not os.access(h.t.exe("frost-bench"), os.X_OK):
        return None
    csv_path = os.path.join(h.work, "loader.csv")
    batch = frost_cell["cell"]["batch"] if frost_cell else h.wl["resnet50"]["batches"][0]
    cmd = [h.t.exe("frost-bench"), "loader", "--data", h.data["resnet50"], "--batch-size", str(batch),
           "--repeats", "1", "--epochs", "2" if h.dev == "cuda" else "1", "--csv", csv_path]
    try:
        h.run(cmd, os.path.join(h.work, "loader.log"), 180)
    except BudgetSpent as e:
        h.skipped.append(f"loader check: {e}")
        return None
    except RunFailed as e:
        h.failures.append(f"loader: {e}")
        return None
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    get = lambda name: next((float(r["samples/s"]) for r in rows if r["read"] == name), None)
    return {"batch": batch, "loader": get("loader, shuffled"), "sequential_tensors": get("sequential, tensors"),
            "sequential_raw": get("sequential, raw")}


# ---------------------------------------------------------------------------------- report
def mfu(samples_per_s, flops, peak_tflops):
    if not samples_per_s or not flops or not peak_tflops:
        return None
    return 100.0 * samples_per_s * flops / (peak_tflops * 1e12)


def report(args, h, vers, peaks, results, probes, loader, skips, command, t_total):
    dev = h.dev
    lines = []
    w = lines.append
    mode = ("quick" if args.quick else "full") + (" (CPU mode: tiny layouts, a test of the harness, not GPU numbers)"
                                                  if dev == "cpu" else "")
    w(f"**Frost vs PyTorch DDP, {'one GPU' if dev == 'cuda' else 'CPU'}, {mode}.** "
      f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {t_total:.0f} s in all.")
    w("")
    w(f"- Machine: {machine()}")
    w(f"- Software: torch {vers.get('torch', '?')}, CUDA {vers.get('cuda') or 'n/a'}, NCCL {vers.get('nccl') or 'n/a'}, "
      f"cuDNN {vers.get('cudnn') or 'n/a'}; Frost {revision()}; driver Python {platform.python_version()}")
    cl = h.t.default("model.channels_last")
    w(f"- Frost settings: defaults except the job's own keys (data.prefetch {h.t.default('data.prefetch') or '?'}, "
      f"model.channels_last {cl if cl else 'n/a (this build has no such key)'}); launched by frost-mpirun -np 1")
    readers = sorted({r.get("reader") for r in h.runs if r.get("reader")})
    w(f"- Command: `{command}`")
    w(f"- Peer data reader: {', '.join(readers) or 'n/a'}"
      + ("" if readers != ["raw"] else " (frost-prep's raw copy of the same data: "
                                         + ("--peer-raw)" if args.peer_raw else "no h5py on this node)")))
    spec = WORKLOADS[dev]
    w(f"- Workloads: BERT {spec['bert']['config']['num_hidden_layers']} layers, hidden {spec['bert']['config']['hidden_size']}, "
      f"sequence {spec['bert']['seq_len']} (random weights, dropout 0, AdamW); ResNet-50 width {spec['resnet50']['width']} at "
      f"{spec['resnet50']['shape'][1]}x{spec['resnet50']['shape'][2]} (SGD momentum 0.9); one rank; "
      f"{args.warmup} warm-up + {args.steps} timed steps per run; "
      f"{'best of ' + str(args.repeats) + ' runs, ' if args.repeats > 1 else 'one run per framework, '}"
      f"alternating which framework goes first")
    if skips:
        w(f"- --quick leaves out: {', '.join(skips)}")
    if peaks:
        if dev == "cuda":
            w(f"- GEMM peaks on this GPU ({peaks.get('n')}^3): bf16 {fmt(peaks.get('bf16_tflops'), '.0f')} TFLOP/s, "
              f"fp32 with TF32 {fmt(peaks.get('tf32_tflops'), '.0f')}, strict fp32 {fmt(peaks.get('fp32_tflops'), '.1f')}")
        else:
            w(f"- GEMM peak on this CPU ({peaks.get('n')}^3 fp32): {fmt(peaks.get('fp32_tflops'), '.3f')} TFLOP/s")
    w("")
    w("| model | strategy | precision | micro-batch | Frost samples/s | DDP samples/s | Frost / DDP | "
      "DDP+compile samples/s | Frost / compile | MFU Frost | MFU DDP | peak mem Frost (MiB) | peak mem DDP (MiB) | loss check |")
    w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    csv_cells = []
    for res in results:
        if res is None:
            continue
        c, b, err = res["cell"], res["best"], res["errors"]
        f, p, pc = b.get("frost"), b.get("peer"), b.get("compile")
        flops = (p or pc or {}).get("flops_per_sample")
        peak = peaks.get("bf16_tflops") if c["precision"] == "bf16" else peaks.get("tf32_tflops") or peaks.get("fp32_tflops")
        tol = LOSS_TOL[(dev, c["precision"])]
        check = "n/a"
        if f and p:
            ok, worst, shifted, n = loss_check(f, p, tol)
            weak = shifted is not None and shifted <= tol
            check = (f"{'pass' if ok else 'FAIL'} ({n} steps, max rel {fmt(worst, '.1e')} <= {tol:g}"
                     f"{'; weak: shifted ' + fmt(shifted, '.1e') if weak else ''})" if ok else
                     f"FAIL ({n} steps, max rel {fmt(worst, '.1e')} > {tol:g})")
            if not ok:
                h.failures.append(f"{cell_name(c)}: loss check failed (max rel {fmt(worst, '.1e')} > {tol:g})")
        mf = mfu(f and f["samples_per_s"], flops, peak)
        mp = mfu(p and p["samples_per_s"], flops, peak)
        strict = peaks.get("fp32_tflops") if dev == "cuda" and c["precision"] == "fp32" else None

        def mfu_text(r, m):  # fp32 cells on a GPU: against TF32 and against strict fp32
            if m is None or not strict:
                return fmt(m, ".1f") + ("%" if m is not None else "")
            return f"{m:.1f}% / {mfu(r['samples_per_s'], flops, strict):.0f}%"
        sps = lambda r, k: fmt(r and r["samples_per_s"], ".1f", "failed" if k in err else "n/a")
        ratio = lambda x, y: fmt(x["samples_per_s"] / y["samples_per_s"], ".2f") if x and y else "n/a"
        comp = sps(pc, "compile") if args.compile else "not run"
        w(f"| {c['model']} | {c['strategy']} | {c['precision']} | {c['batch']} | {sps(f, 'frost')} | {sps(p, 'peer')} | "
          f"{ratio(f, p)} | {comp} | {ratio(f, pc)} | {mfu_text(f, mf)} | {mfu_text(p, mp)} | "
          f"{fmt(f and f.get('gpu_mem_peak_mib'))} | {fmt(p and p.get('gpu_mem_peak_mib'))} | {check} |")
        csv_cells.append({"cell": cell_name(c), "frost_samples_per_s": f and f["samples_per_s"],
                          "ddp_samples_per_s": p and p["samples_per_s"], "ddp_compile_samples_per_s": pc and pc["samples_per_s"],
                          "flops_per_sample": flops, "peak_tflops": peak, "strict_fp32_peak_tflops": strict, "mfu_frost_pct": mf, "mfu_ddp_pct": mp,
                          "frost_gpu_mem_peak_mib": f and f.get("gpu_mem_peak_mib"),
                          "ddp_gpu_mem_peak_mib": p and p.get("gpu_mem_peak_mib"), "loss_check": check})
    w("")
    w(f"MFU = samples/s x FLOPs per sample (FlopCounterMode on the peer's model: forward + backward) / the GEMM peak "
      f"of the cell's precision ({'bf16; fp32 cells: against fp32 with TF32 / against strict fp32' if dev == 'cuda' else 'fp32'}). "
      f"Loss check: Frost's loss at every step against the peer's, relative tolerance by precision "
      f"(fp32 {LOSS_TOL[(dev, 'fp32')]:g}, bf16 {LOSS_TOL[(dev, 'bf16')]:g}; bench/gpu.py LOSS_TOL says why); "
      f"'weak' means the same check against a data order off by one step would pass too.")
    w("")
    w("Step breakdown, ms per step (mean over the timed steps; "
      + ("CUDA events on the GPU's stream, data wait on the host)" if dev == "cuda" else "host clocks)") + ":")
    w("")
    w("| cell | framework | step | data wait | H2D | forward | backward | comm wait | optimizer | timing |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for res in results:
        if res is None:
            continue
        for k in ("frost", "peer", "compile"):
            r = res["best"].get(k)
            if not r:
                continue
            comm = fmt(r.get("comm_wait_ms"), ".2f", "in backward" if k != "frost" else "n/a")
            w(f"| {cell_name(res['cell'])} | {LABEL[k]} | {fmt(r.get('step_ms'), '.2f')} | {fmt(r.get('data_ms'), '.2f')} | "
              f"{fmt(r.get('h2d_ms'), '.2f')} | {fmt(r.get('forward_ms'), '.2f')} | {fmt(r.get('backward_ms'), '.2f')} | "
              f"{comm} | {fmt(r.get('optimizer_ms'), '.2f')} | {r.get('timing') or 'n/a'} |")
    w("")
    w(f"Linear probe, {PROBE_EPOCHS[dev]} epochs: Frost's head strategy with train.feature_cache = memory (the backbone "
      "runs once per sample) against the DDP linear probe (the frozen backbone runs every step):")
    w("")
    w("| model | precision | micro-batch | rows | Frost time (s) | of it extraction (s) | DDP time (s) | DDP / Frost time | loss check |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for res in probes:
        if res is None:
            continue
        c, f, p = res["cell"], res["best"].get("frost"), res["best"].get("peer")
        tol = LOSS_TOL[(dev, c["precision"])]
        check = "n/a"
        if f and p:
            ok, worst, _, n = loss_check(f, p, tol)
            check = f"{'pass' if ok else 'FAIL'} ({n} steps, max rel {fmt(worst, '.1e')}, tolerance {tol:g})"
            if not ok:
                h.failures.append(f"{cell_name(c)}: loss check failed (max rel {fmt(worst, '.1e')} > {tol:g})")
        w(f"| {c['model']} | {c['precision']} | {c['batch']} | {h.rows[c['model']]} | {fmt(f and f['wall_s'], '.2f', 'failed')} | "
          f"{fmt(f and f.get('extraction_s'), '.2f')} | {fmt(p and p['wall_s'], '.2f', 'failed')} | "
          f"{fmt(p['wall_s'] / f['wall_s'], '.2f') if f and p else 'n/a'} | {check} |")
    w("")
    if loader:
        fr = next((r["best"].get("frost") for r in results if r and r["cell"]["model"] == "resnet50"
                   and r["cell"]["strategy"] == "full" and r["cell"]["batch"] == loader["batch"]), None)
        consume = fr and fr["samples_per_s"]
        w(f"Loader: `frost-bench loader` on the ResNet-50 file ({'x'.join(map(str, spec['resnet50']['shape']))}, "
          f"{h.rows['resnet50']} rows, batch {loader['batch']}, default prefetch), one loader thread on {os.cpu_count()} CPUs:")
        w("")
        w("| loader samples/s (shuffled) | sequential tensors samples/s | Frost ResNet-50 cell samples/s | "
          "loader / consumption | Frost data wait (ms/step) | loader is the bottleneck |")
        w("|---:|---:|---:|---:|---:|---|")
        head = loader["loader"] / consume if loader["loader"] and consume else None
        w(f"| {fmt(loader['loader'], '.0f')} | {fmt(loader['sequential_tensors'], '.0f')} | {fmt(consume, '.1f')} | "
          f"{fmt(head, '.2f')} | {fmt(fr and fr.get('data_ms'), '.2f')} | "
          f"{'n/a' if head is None else ('yes' if head < 1.0 else 'no')} |")
        w("")
    if h.skipped:
        w("Not run for lack of time: " + "; ".join(h.skipped) + ".")
        w("")
    if h.failures:
        w("Failures: " + "; ".join(h.failures) + ".")
        w("")
    return "\n".join(lines).rstrip() + "\n", csv_cells


LABEL = {"frost": "Frost", "peer": "PyTorch DDP", "compile": "DDP + torch.compile"}


def write_csv(path, rows):
    if not rows:
        return
    keys = list(rows[0].keys())
    for r in rows[1:]:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys)
        wr.writeheader()
        wr.writerows(rows)


def update_doc(path, text):
    """Replaces the region between BEGIN and END of `path` with `text` (appends a section with
    the markers when they are missing)."""
    with open(path) as f:
        doc = f.read()
    if BEGIN not in doc:
        doc = doc.rstrip("\n") + f"\n\n## {SECTION}\n\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{text}\n{END}{tail}")


# ---------------------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda when torch sees a GPU, else cpu")
    p.add_argument("--quick", action="store_true", help="fewest cells and steps (the check kit's step)")
    p.add_argument("--outdir", default=None, help="default: runs/bench-gpu (repository) or ./bench-gpu")
    p.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md (never written in CPU mode)")
    p.add_argument("--doc", default="docs/benchmarks.md")
    p.add_argument("--bin", help="folder holding frost-train, frost-prep, frost-bench (default build/ or bin/)")
    p.add_argument("--budget-s", type=float, default=0, help="stop starting cells when this much time is spent (0: none)")
    p.add_argument("--run-timeout", type=float, default=600, help="seconds one run may take")
    p.add_argument("--warmup", type=int, help="untimed steps per run (default 10; quick 5; cpu 2)")
    p.add_argument("--steps", type=int, help="timed steps per run (default 50; quick 25; cpu 6)")
    p.add_argument("--repeats", type=int, help="runs per framework and cell, best kept (default 2; quick 1)")
    p.add_argument("--workers", type=int, help="the peer's DataLoader workers (default min(8, CPUs - 2), at least 1)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="the torch.compile column (default: on in the full GPU mode)")
    p.add_argument("--precisions", help="comma-separated, first = the precision of --quick, head and probe cells "
                   "(default bf16,fp32 on a GPU, fp32 on the CPU)")
    p.add_argument("--peer-raw", action="store_true", help="the peer reads the raw copy even where h5py is installed")
    p.add_argument("--scratch", help="folder for the data files and initial weights (default OUTDIR/work/scratch)")
    p.add_argument("--keep-data", action="store_true", help="keep the scratch folder (removed at the end by default)")
    args = p.parse_args()
    t0 = time.time()
    command = "python3 bench/gpu.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.device is None:
        try:
            import torch
            args.device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            p.error("torch is not importable here; run with the Python that has PyTorch")
    elif args.device == "cuda":
        try:
            import torch
            if not torch.cuda.is_available():
                p.error("--device cuda: this Python's torch sees no CUDA device "
                        "(torch.cuda.is_available() is false); use --device cpu for the CPU mode")
        except ImportError:
            pass  # the peer's Python (--python) is asked when the cells run
    cpu = args.device == "cpu"
    args.warmup = args.warmup if args.warmup is not None else (2 if cpu else 5 if args.quick else 10)
    args.steps = args.steps if args.steps is not None else (6 if cpu else 25 if args.quick else 50)
    args.repeats = args.repeats or (1 if args.quick else 2)
    args.workers = args.workers if args.workers is not None else max(1, min(8, (os.cpu_count() or 2) - 2))
    args.compile = (not args.quick and not cpu) if args.compile is None else args.compile
    args.precisions = args.precisions.split(",") if args.precisions else ["fp32"] if cpu else ["bf16", "fp32"]
    if not args.precisions or any(x not in ("bf16", "fp32") for x in args.precisions):
        p.error(f"--precisions must list bf16 and/or fp32, got '{','.join(args.precisions)}'")
    args.min_cell_s = 20 if cpu else 45
    if args.warmup < 1 or args.steps < 2 or args.repeats < 1:
        p.error("--warmup must be >= 1, --steps >= 2, --repeats >= 1")
    if args.outdir is None:
        args.outdir = os.path.join(ROOT, "runs", "bench-gpu") if not os.path.exists(os.path.join(ROOT, "manifest.txt")) \
            else os.path.abspath("bench-gpu")
    args.outdir = os.path.abspath(args.outdir)
    os.makedirs(args.outdir, exist_ok=True)

    h = Harness(args, Tools(args))
    try:
        return measure(args, h, command, t0)
    finally:
        if not args.keep_data:
            shutil.rmtree(h.scratch, ignore_errors=True)


def measure(args, h, command, t0):
    wl = h.wl
    cells, probes, skips = plan(args, wl)
    log(f"{args.device}, {'quick' if args.quick else 'full'}: {len(cells)} cells + {len(probes)} probe(s), output {args.outdir}")
    h.rows = {}
    try:
        for m in ("bert", "resnet50"):
            h.rows[m] = wl[m]["quick_rows" if args.quick else "rows"]
            h.prepare(m, h.rows[m])
    except (RunFailed, BudgetSpent) as e:
        print(f"gpu.py: FAIL: preparation (frost-prep synthetic, make-init): {e}", flush=True)
        return 1
    peaks = gemm_peaks(h)
    vers = versions(h, peaks)
    results = [h.cell(i, c) for i, c in enumerate(cells)]
    probe_results = [h.cell(i, c) for i, c in enumerate(probes)]
    fr = next((r for r in results if r and r["cell"]["model"] == "resnet50" and r["cell"]["strategy"] == "full"), None)
    loader = loader_check(h, fr)
    text, csv_cells = report(args, h, vers, peaks, results, probe_results, loader, skips, command, time.time() - t0)
    with open(os.path.join(args.outdir, "report.md"), "w") as f:
        f.write(text)
    write_csv(os.path.join(args.outdir, "runs.csv"), h.runs)
    write_csv(os.path.join(args.outdir, "cells.csv"), csv_cells)
    print("\n" + text, flush=True)
    if not args.no_docs and h.dev == "cpu":
        log(f"CPU mode: {args.doc} is left alone (its region holds GPU measurements only)")
    elif not args.no_docs:
        doc = os.path.join(ROOT, args.doc)
        if os.path.exists(doc):
            update_doc(doc, text)
            log(f"updated {args.doc}")
    ran = sum(1 for r in results + probe_results if r)
    summary = (f"{ran} of {len(cells) + len(probes)} cells started"
               + (f", {len(h.skipped)} left out for time" if h.skipped else "")
               + (f"; {len(h.failures)} failure(s): {h.failures[0]}" if h.failures
                  else "; every loss check passed" if ran else ""))
    verdict = "FAIL" if h.failures else "PASS" if ran else "NOT-RUN"
    print(f"gpu.py: {verdict}: {summary} (report {os.path.join(args.outdir, 'report.md')})", flush=True)
    return {"FAIL": 1, "PASS": 0, "NOT-RUN": 3}[verdict]


if __name__ == "__main__":
    sys.exit(main())
