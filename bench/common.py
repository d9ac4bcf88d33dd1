#!/usr/bin/env python3
"""What every benchmark driver of bench/ shares (scaling.py, ceiling.py, efficiency.py,
throughput.py): a library, not a program.

* Workloads: MODELS, the two jobs of the scaling comparison (ResNet-18 layout width 32 on
  Fashion-MNIST classes 5-9, all-MiniLM-L6-v2 on sentence polarity) and their data files.
* Set-up: ensure_setup (dependencies, build, data via frost-prep), make_inits (one initial-weights
  file per model, written by the peer, loaded by both frameworks).
* Launch: mpirun (launch/frost-mpirun with every rank under bench/peak_rss.sh), run_logged (one
  run with its log, a time limit and the whole process group killed on expiry), launch_frost
  (frost-train with any options: metrics.jsonl's train lines, wall time, peak RSS), run_frost
  and run_peer (one scaling-workload run of Frost and of the PyTorch DDP peer), read_rss.
* Machine description for the reports: machine, revision, load_avg; kernel_parity
  (Note [Kernel parity]).
* Reports: publish and update_doc (print a driver's markdown and write it into its region,
  between two HTML comment markers, of a page under docs/); log.

The drivers run as `/usr/bin/python3 bench/<driver>.py`, so this file is imported as `common`.
"""
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The peer's Python: launch/setup.sh's venv, whose torch 2.11 is also the LibTorch Frost links
# (one PyTorch version on both sides): $FROST_VENV as for launch/setup.sh, else .cache/venv.
VENV = os.path.abspath(os.environ.get("FROST_VENV") or os.path.join(ROOT, ".cache", "venv"))
PY = os.path.join(VENV, "bin", "python")
# The drivers and the peer run in that venv (torch, h5py, numpy): a driver started with another
# Python (e.g. /usr/bin/python3) re-executes itself there once the venv exists.
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.access(PY, os.X_OK):
    os.execv(PY, [PY] + sys.argv)
PEER = "bench/peers/ddp_peer.py"
FASHION = "data/fashion-mnist/b/train.h5"
SENTIMENT = "data/sentiment/train.h5"
MINILM = ".cache/models/all-MiniLM-L6-v2"

# The two workloads: ResNet-18 layout (width 32, small_input) on 28x28 Fashion-MNIST classes
# 5-9, and all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, [CLS] pooler) on sentence polarity.
MODELS = {
    "resnet": {"batch": 32, "lr": {"full": 0.05, "head": 0.1}, "data": FASHION},
    "bert": {"batch": 8, "lr": {"full": 0.01, "head": 0.1}, "data": SENTIMENT},
}
RESNET_WIDTH = 32


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, cwd=ROOT, **kw)


def out_of(cmd):
    try:
        return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def log(msg):
    print(f"[scaling {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- preparation
def ensure_setup(args, python_packages=True):
    """Makes sure the runs can start: Frost built with its dependencies and assets (launch/setup.sh,
    unless args.no_setup), /usr/bin/time, the data files of args.models (frost-prep), and with
    python_packages the peer's Python packages (torch, h5py, numpy; matplotlib unless
    args.no_plot). Installs what is missing with apt-get."""
    if not args.no_setup:
        sh(["bash", "launch/setup.sh"])  # Frost's dependencies, assets, build (idempotent)
        if os.path.realpath(sys.prefix) != os.path.realpath(VENV):  # the venv is new: use it
            os.execv(PY, [PY] + sys.argv)
    need = []
    probe = "import torch, h5py, numpy" + ("" if args.no_plot else ", matplotlib")
    if python_packages and subprocess.run([PY, "-c", "import torch, h5py, numpy"], capture_output=True).returncode != 0:
        raise SystemExit(f"bench: {PY} cannot import torch/h5py/numpy: run bash launch/setup.sh (it installs the venv)")
    if python_packages and not args.no_plot and subprocess.run([PY, "-c", "import matplotlib"], capture_output=True).returncode != 0:
        sh([PY, "-m", "pip", "install", "--quiet", "matplotlib"])
    if not os.access("/usr/bin/time", os.X_OK):
        need.append("time")
    if need:
        log(f"installing {' '.join(need)}")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        sh(sudo + ["apt-get", "update", "-qq"])
        sh(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need,
           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    build = args.build
    for tool in ("frost-train", "frost-prep"):
        if not os.access(os.path.join(ROOT, build, tool), os.X_OK):
            sys.exit(f"scaling: {build}/{tool} is missing; run bash launch/setup.sh")
    if "resnet" in args.models and not os.path.exists(os.path.join(ROOT, FASHION)):
        sh([f"{build}/frost-prep", "fashion-mnist", "--src", "/usr/share/datasets/fashion-mnist",
            "--out", os.path.dirname(FASHION), "--classes", "5-9"])
    if "bert" in args.models and not os.path.exists(os.path.join(ROOT, SENTIMENT)):
        sh([f"{build}/frost-prep", "text", "--csv", ".cache/data/sentence-polarity.csv",
            "--vocab", f"{MINILM}/vocab.txt", "--out", os.path.dirname(SENTIMENT)])


def make_inits(args):
    """One initial-weights file per model, written by the peer, loaded by both frameworks."""
    work = args.work
    os.makedirs(os.path.join(ROOT, work), exist_ok=True)
    paths = {}
    if "resnet" in args.models:
        paths["resnet"] = f"{work}/init-resnet.pt"
        sh([PY, PEER, "make-init", "--model", "resnet", "--width", str(RESNET_WIDTH), "--in-channels", "1",
            "--num-classes", "5", "--seed", "0", "--out", paths["resnet"]])
    if "bert" in args.models:
        # Dropout off in both frameworks, so that the losses can be compared step by step.
        with open(os.path.join(ROOT, MINILM, "config.json")) as f:
            config = json.load(f)
        config["hidden_dropout_prob"] = config["attention_probs_dropout_prob"] = 0.0
        with open(os.path.join(ROOT, work, "bert-config.json"), "w") as f:
            json.dump(config, f, indent=2)
        paths["bert"] = f"{work}/init-bert.pt"
        sh([PY, PEER, "make-init", "--model", "bert", "--hf-config", f"{work}/bert-config.json",
            "--weights", f"{MINILM}/model.safetensors", "--num-classes", "2", "--seed", "0", "--out", paths["bert"]])
    return paths


# ------------------------------------------------------------------------------------ runs
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mpirun(np, rss_prefix, cmd):
    """launch/frost-mpirun with every rank under /usr/bin/time -f %M (peak RSS in KiB, one file
    per rank: rss_prefix.RANK)."""
    return ["launch/frost-mpirun", "--quiet", "-np", str(np), "bench/peak_rss.sh", rss_prefix] + cmd


def read_rss(prefix, np):
    out = []
    for r in range(np):
        with open(f"{prefix}.{r}") as f:
            lines = [l for l in f.read().split() if l.isdigit()]
        out.append(int(lines[-1]) / 1024)  # MiB
    return out


def run_logged(cmd, log_path, timeout_s, env=None):
    t0 = time.time()
    with open(log_path, "w") as f:
        f.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, **(env or {})))
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # mpirun and every rank it started
            time.sleep(5)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            sys.exit(f"scaling: run did not end within {timeout_s} s (--run-timeout), log {log_path}")
    if rc != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        sys.exit(f"scaling: run failed (exit {rc}), log {log_path}:\n{tail}")
    return time.time() - t0


def launch_frost(args, np, d, options, mpirun_args=""):
    """Runs `args.build/frost-train OPTIONS` on `np` ranks (mpirun(): launch/frost-mpirun, every rank
    under /usr/bin/time) with run directory `d` (relative to ROOT; `d/run.log` gets the command and
    the output); mpirun_args: FROST_MPIRUN_ARGS. Ends the program on failure (run_logged). Returns
    (the "train" lines of d/metrics.jsonl, wall seconds, peak RSS of each rank in MiB)."""
    os.makedirs(os.path.join(ROOT, d), exist_ok=True)
    cmd = [f"{args.build}/frost-train"] + list(options)
    wall = run_logged(mpirun(np, f"{d}/rss", cmd), os.path.join(ROOT, d, "run.log"), args.run_timeout,
                      env={"FROST_MPIRUN_ARGS": mpirun_args} if mpirun_args else None)
    rows = [json.loads(l) for l in open(os.path.join(ROOT, d, "metrics.jsonl"))]
    return [r for r in rows if r.get("kind") == "train"], wall, read_rss(os.path.join(ROOT, d, "rss"), np)


def run_frost(args, model, strategy, np, threads, init, tag, extra=(), mpirun_args=""):
    """One Frost run of a MODELS workload: --warmup untimed + --steps timed steps of SGD (constant lr,
    no momentum, no weight decay) without shuffling, from `init`; extra: more frost-train options;
    mpirun_args: FROST_MPIRUN_ARGS. Returns the timed steps' statistics (samples/s, step time
    breakdown, MB/step, comm wait, every step's loss, peak RSS per rank, wall time)."""
    spec = MODELS[model]
    d = f"{args.work}/{tag}-frost"
    total = args.warmup + args.steps
    options = ["--data.train", spec["data"], "--data.test", "",
               "--data.batch_size", str(spec["batch"]), "--data.shuffle", "false", "--data.drop_last", "true",
               "--train.strategy", strategy, "--train.epochs", "1000", "--train.max_steps", str(total),
               "--train.threads", str(threads), "--train.seed", "0",
               "--optim.name", "sgd", "--optim.lr", str(spec["lr"][strategy]), "--optim.momentum", "0",
               "--optim.weight_decay", "0", "--optim.schedule", "constant", "--optim.warmup_steps", "0",
               "--model.init", init, "--model.export_format", "none",
               "--log.dir", d, "--log.overwrite", "true", "--log.level", "warn", "--log.every", "1000"]
    if model == "resnet":
        options += ["--model.backbone", "resnet18", "--model.width", str(RESNET_WIDTH), "--model.small_input", "true"]
    else:
        options += ["--model.backbone", "bert", "--model.hf_config", f"{args.work}/bert-config.json",
                    "--model.pooling", "cls"]
    options += list(extra)
    rows, wall, rss = launch_frost(args, np, d, options, mpirun_args)
    timed = rows[args.warmup:total]
    assert len(timed) == args.steps, f"{d}: expected {total} steps, metrics.jsonl has {len(rows)}"
    step_ms = sum(r["step_ms"] for r in timed)
    mean = lambda k: statistics.mean(r[k] for r in timed)
    return {
        "samples_per_s": sum(r["samples"] for r in timed) / (step_ms / 1e3),
        "best_samples_per_s": max(r["samples"] / (r["step_ms"] / 1e3) for r in timed),
        "loss": [r["loss"] for r in rows],
        "mb_per_step": mean("comm_bytes") / 1e6,
        "comm_wait_frac": sum(r["comm_wait_ms"] for r in timed) / step_ms,
        "step_ms": step_ms / len(timed),
        "data_ms": mean("data_wait_ms"), "forward_ms": mean("forward_ms"), "backward_ms": mean("backward_ms"),
        "comm_wait_ms": mean("comm_wait_ms"), "optimizer_ms": mean("optimizer_ms"),
        "allreduce_ms": statistics.mean(r.get("allreduce_ms", 0.0) for r in timed),
        "collectives": mean("collectives"),
        "rss_mib": rss, "wall_s": wall,
    }


def run_peer(args, model, strategy, np, threads, init, tag):
    """One run of the PyTorch DDP peer (bench/peers/ddp_peer.py) on the same job as run_frost."""
    spec = MODELS[model]
    d = f"{args.work}/{tag}-peer"
    os.makedirs(os.path.join(ROOT, d), exist_ok=True)
    cmd = [PY, PEER, "train", "--model", model, "--strategy", strategy, "--data", spec["data"], "--init", init,
           "--batch-size", str(spec["batch"]), "--warmup", str(args.warmup), "--steps", str(args.steps),
           "--lr", str(spec["lr"][strategy]), "--threads", str(threads), "--port", str(free_port()),
           "--out", f"{d}/result.json"]
    cmd += ["--width", str(RESNET_WIDTH), "--in-channels", "1"] if model == "resnet" else \
        ["--hf-config", f"{args.work}/bert-config.json", "--pooling", "cls"]
    wall = run_logged(mpirun(np, f"{d}/rss", cmd), os.path.join(ROOT, d, "run.log"), args.run_timeout)
    with open(os.path.join(ROOT, d, "result.json")) as f:
        r = json.load(f)
    r["rss_mib"] = read_rss(os.path.join(ROOT, d, "rss"), np)
    r["mb_per_step"] = r["allreduce_bytes_per_step"] / 1e6
    r["best_samples_per_s"] = r["world_size"] * r["batch_size"] / (min(r["step_ms"]) / 1e3)
    r["step_ms"] = statistics.mean(r["step_ms"])
    r["wall_s"] = wall
    return r


# ---------------------------------------------------------------------------------- report
def run_together(label, jobs):
    """Runs every (name, fn) of `jobs` on its own thread, all started at the same moment (the
    hardware ceiling: independent runs side by side); returns their results in order. A failure
    (run_logged exits) is reported from the calling thread as one SystemExit naming each job."""
    results, errors = [None] * len(jobs), []

    def one(i):
        try:
            results[i] = jobs[i][1]()
        except BaseException as e:
            errors.append(f"{jobs[i][0]}: {e}")

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit(f"{label}: " + "; ".join(errors))
    return results


def machine():
    """One line for the reports: CPU, memory, OS, OpenMPI, LibTorch, PyTorch, BLAS."""
    cpu = out_of("lscpu | sed -n 's/^Model name: *//p'") or platform.processor()
    mem = out_of("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    debian = out_of("cat /etc/debian_version")
    ompi = out_of("mpirun --version 2>&1 | head -1 | sed 's/.*) //'")
    torch_v = out_of(f"{PY} -c 'import torch; print(torch.__version__)'")
    blas = out_of(f"{PY} -c 'import torch; print(torch.__config__.show())' | grep -o 'BLAS_INFO=[a-z]*'")
    return (f"{os.cpu_count()} vCPUs ({cpu}), {mem}, Debian {debian}, kernel {platform.release()}; "
            f"OpenMPI {ompi}; torch {torch_v} from PyPI (Frost's LibTorch and the peer); "
            f"{blas or 'BLAS_INFO=?'}")


def revision():
    """The git revision of the checkout (noting uncommitted changes under src/)."""
    rev = out_of("git rev-parse --short HEAD")
    if not rev:
        return "unknown (not a git checkout)"
    dirty = out_of("git status --porcelain --untracked-files=no -- src CMakeLists.txt")
    return rev + (" with uncommitted changes under src/" if dirty else "")


def native_openblas_core():
    """The OPENBLAS_CORETYPE frost-train runs with on this CPU (frost::use_native_blas_kernels):
    SkylakeX with AVX-512 F/BW/VL/DQ, Haswell with AVX2 and FMA, else "" (OpenBLAS's own choice)."""
    with open("/proc/cpuinfo") as f:
        flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    if all(x in flags for x in ("avx512f", "avx512bw", "avx512vl", "avx512dq")):
        return "SkylakeX"
    return "Haswell" if "avx2" in flags and "fma" in flags else ""


def kernel_parity():
    """Note [Kernel parity]: frost-train replaces OpenBLAS's generic kernels by the CPU's own
    (OPENBLAS_CORETYPE) when the library does not know the CPU; PyTorch does not. Both frameworks
    must do the same arithmetic for the loss check and the comparison, so every run of the
    benchmarks gets the same OPENBLAS_CORETYPE in its environment (unless the caller set one).
    Returns the value used ("" = OpenBLAS's own choice)."""
    if "OPENBLAS_CORETYPE" not in os.environ and native_openblas_core():
        os.environ["OPENBLAS_CORETYPE"] = native_openblas_core()
    return os.environ.get("OPENBLAS_CORETYPE", "")


def load_avg():
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def publish(args, text, begin, end, title):
    """Prints a benchmark's markdown `text` and, unless args.no_doc, writes it into its region of
    args.doc, between the markers `begin` and `end` (update_doc; `title`: the section heading
    when the markers are missing)."""
    print("\n" + text + "\n", flush=True)
    if not args.no_doc:
        update_doc(os.path.join(ROOT, args.doc), text, begin, end, title)
        log(f"updated {args.doc}")


def update_doc(path, text, begin, end, title):
    """Replaces the region between the markers `begin` and `end` of `path` with `text` (a new
    section `title` with the markers is appended when they are missing)."""
    with open(path) as f:
        doc = f.read()
    if begin not in doc:
        doc = doc.rstrip("\n") + f"\n\n## {title}\n\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n{text}\n\n{end}{tail}")
