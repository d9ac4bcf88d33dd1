#!/usr/bin/env python3
"""Scaling model: predicts the data-parallel scaling efficiency of a Frost step at N GPUs from
what one process measures (or from a workload given by numbers), by replaying the gradient
buckets' all-reduce schedule against a link model.

Inputs
* A workload: the compute-only step time, when backward ends, and the gradient buckets in
  launch order with their bytes and ready (launch) times. Either
    --metrics RUN/metrics.jsonl   a Frost run with log.bucket_timeline = true (ideally on one
                                  rank: its step has no communication in it); the medians over
                                  the steps after --skip are used;
    --json FILE                   the same as a JSON object (keys of Workload below);
    --preset bert-base|resnet50   a parametric workload built from the architecture's parameter
                                  list and an assumed compute time (ASSUMED_COMPUTE below),
                                  strategies full and head;
    --params-mb / --compute-ms    any model, given by its gradient size and step time.
* A link: the all-reduce time of a message of S bytes on N GPUs,
      t(S, N) = 2(N-1)/N * S / busbw(N) + latency(N),
  the bus-bandwidth relation of nccl-tests (doc/PERFORMANCE.md, "Bus bandwidth": a ring
  all-reduce sends and receives 2(N-1)/N * S bytes per rank, so busbw is the per-rank link rate
  the collective achieved, comparable across N). Hierarchical: up to --gpus-per-node GPUs the
  node's fabric (NVLink) sets busbw; beyond, the ring crosses nodes and busbw(N) =
  min(intra busbw, inter busbw), where the inter-node figure is that of the node's NICs
  together (NCCL spreads its rings over the NICs, one per GPU in an HGX H100/H200 node), and the
  latency grows with the number of nodes (tree depth, log2). Presets in LINKS, with sources.
  --link-csv FILE uses a measured frost-bench allreduce table instead (one world size).

The schedule (Frost's GradReducer: one communication stream, buckets in index order):
    start_k = max(ready_k, end_{k-1}),  end_k = start_k + t(bytes_k, N)
  with overlap:     step(N) = step(1) + max(0, end_last - backward_end)
  without overlap:  step(N) = step(1) + sum_k t(bytes_k, N)   (every all-reduce after backward)
  efficiency(N) = step(1) / step(N)   (compute-only step / predicted step; weak scaling: the
                                       per-GPU batch stays the same)
The stall is what remains of the schedule after backward ends: the buckets still queued or in
flight at backward_end, and which of them was ready last.

What it leaves out: contention between communication and compute for the same hardware (SMs
and memory bandwidth on a GPU, the same cores on the CPU), stragglers, the data loader, and the
optimizer's own collectives. On the CPU with 2 shared cores the all-reduce competes with
backward (docs/benchmarks.md), so the check there errs on the optimistic side.

Usage
    python3 bench/scaling_model.py --preset bert-base --preset resnet50
    python3 bench/scaling_model.py --metrics runs/x/metrics.jsonl --link nvlink4+ib-ndr
    python3 bench/scaling_model.py --check-cpu        # runs Frost here (1 and 2 ranks) and compares
"""
import argparse
import json
import math
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024

# ---------------------------------------------------------------------------------- links
# Each preset: busbw in GB/s (1e9 B/s, nccl-tests' unit) and latency in microseconds per
# collective; "inter" applies beyond gpus_per_node GPUs. Sources:
#  [nccl-tests] https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md
#               (algbw, busbw and the 2(n-1)/n factor of all-reduce)
#  [h200]       https://www.nvidia.com/en-us/data-center/h200/ (H200 SXM: NVLink 900 GB/s per GPU,
#               both directions together, i.e. 450 GB/s each way; 989 dense BF16 TFLOPS)
#  [dgx-h100]   https://docs.nvidia.com/dgx/dgxh100-user-guide/introduction-to-dgxh100.html
#               (8 ConnectX-7 400 Gb/s InfiniBand/Ethernet ports for the compute fabric, one
#               per GPU)
#  [nccl-h100]  https://docs.alayanew.com/en/docs/tech-blog/2026-05-06-nccl-tests (third-party
#               nccl-tests reference: 8x H100 SXM all_reduce busbw 460-480 GB/s at large sizes)
LINKS = {
    "nvlink4+ib-ndr": {
        "gpus_per_node": 8,
        "intra_busbw": 450.0, "intra_latency_us": 20.0,
        "inter_busbw": 8 * 45.0, "inter_latency_us": 30.0, "inter_latency_per_level_us": 5.0,
        "source": "intra: NVLink 4 of an 8-GPU H100/H200 node, 450 GB/s each way [h200]; "
                  "nccl-tests reports 460-480 GB/s all-reduce busbw on 8x H100 SXM [nccl-h100], "
                  "so 450 is a round, slightly conservative figure. inter: one NDR 400 Gb/s "
                  "(50 GB/s) NIC per GPU [dgx-h100], assumed 45 GB/s achieved each (90% of line "
                  "rate), 8 per node: busbw 360 GB/s for rings crossing nodes. Latencies: "
                  "assumed (20 us in a node; 30 us + 5 us per doubling of the node count "
                  "across nodes), the order of nccl-tests' small-message times.",
    },
    "nvlink4+ib-ndr-1nic": {
        "gpus_per_node": 8,
        "intra_busbw": 450.0, "intra_latency_us": 20.0,
        "inter_busbw": 45.0, "inter_latency_us": 30.0, "inter_latency_per_level_us": 5.0,
        "source": "as nvlink4+ib-ndr, but one NDR 400 Gb/s NIC for the whole node: the "
                  "pessimistic bound, busbw 45 GB/s across nodes.",
    },
}
DEFAULT_LINK = "nvlink4+ib-ndr"


class Link:
    """t(S, N) = 2(N-1)/N * S / busbw(N) + latency(N) (module docstring), in seconds."""

    def __init__(self, name, gpus_per_node, intra_busbw, intra_latency_us, inter_busbw=None,
                 inter_latency_us=None, inter_latency_per_level_us=0.0, source=""):
        self.name, self.source = name, source
        self.gpus_per_node = gpus_per_node
        self.intra_busbw, self.intra_latency = intra_busbw * 1e9, intra_latency_us * 1e-6
        self.inter_busbw = (inter_busbw if inter_busbw is not None else intra_busbw) * 1e9
        self.inter_latency = (inter_latency_us if inter_latency_us is not None else intra_latency_us) * 1e-6
        self.inter_per_level = inter_latency_per_level_us * 1e-6

    @classmethod
    def preset(cls, name, **overrides):
        if name not in LINKS:
            sys.exit(f"scaling_model: unknown link '{name}' (presets: {', '.join(LINKS)})")
        p = dict(LINKS[name], **{k: v for k, v in overrides.items() if v is not None})
        return cls(name, **p)

    def busbw(self, n):
        return self.intra_busbw if n <= self.gpus_per_node else min(self.intra_busbw, self.inter_busbw)

    def latency(self, n):
        if n <= self.gpus_per_node:
            return self.intra_latency
        nodes = math.ceil(n / self.gpus_per_node)
        return self.inter_latency + self.inter_per_level * math.ceil(math.log2(nodes))

    def time(self, nbytes, n):
        if n <= 1:
            return 0.0
        return 2.0 * (n - 1) / n * nbytes / self.busbw(n) + self.latency(n)

    def describe(self):
        return (f"{self.name}: busbw {self.intra_busbw / 1e9:.0f} GB/s and {self.intra_latency * 1e6:.0f} us "
                f"within {self.gpus_per_node} GPUs, {min(self.intra_busbw, self.inter_busbw) / 1e9:.0f} GB/s and "
                f"{self.inter_latency * 1e6:.0f} us + {self.inter_per_level * 1e6:.0f} us per doubling of nodes beyond")


class TableLink:
    """A measured `frost-bench allreduce --csv` table (size_bytes, ..., time_us, ...) of one world
    size: t(S) interpolated linearly between the two measured sizes around S (and scaled by size
    beyond the largest; the smallest size's time below it)."""

    def __init__(self, path, world_size):
        self.name, self.world_size = f"measured table {os.path.basename(path)}", world_size
        self.source = f"frost-bench allreduce on {world_size} ranks"
        rows = []
        with open(path) as f:
            header = f.readline().strip().split(",")
            i_size, i_time = 0, header.index("time_us") if "time_us" in header else 4
            for line in f:
                cols = line.strip().split(",")
                if len(cols) > i_time:
                    rows.append((float(cols[i_size]), float(cols[i_time]) * 1e-6))
        if not rows:
            sys.exit(f"scaling_model: {path} holds no rows")
        self.rows = sorted(rows)

    def time(self, nbytes, n):
        if n <= 1:
            return 0.0
        if n != self.world_size:
            sys.exit(f"scaling_model: the table {self.name} was measured on {self.world_size} ranks, not {n}")
        rows = self.rows
        if nbytes <= rows[0][0]:
            return rows[0][1]
        for (s0, t0), (s1, t1) in zip(rows, rows[1:]):
            if nbytes <= s1:
                return t0 + (t1 - t0) * (nbytes - s0) / (s1 - s0)
        s, t = rows[-1]
        return t * nbytes / s

    def describe(self):
        return f"{self.name} ({self.source})"


# ------------------------------------------------------------------------------- workloads
class Workload:
    """One strategy's step as the model sees it; times in milliseconds.
    step_ms: the compute-only step (no communication); backward_end_ms: when backward ends,
    measured on the same clock as the ready times (the bucket timeline's origin); buckets:
    [(bytes, ready_ms)] in launch order; notes: where the numbers come from."""

    def __init__(self, name, strategy, step_ms, backward_end_ms, buckets, notes=""):
        self.name, self.strategy, self.notes = name, strategy, notes
        self.step_ms, self.backward_end_ms = float(step_ms), float(backward_end_ms)
        self.buckets = [(int(b), float(r)) for b, r in buckets]

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], d.get("strategy", ""), d["step_ms"], d["backward_end_ms"],
                   [(b["bytes"], b["ready_ms"]) for b in d["buckets"]], d.get("notes", ""))

    def to_dict(self):
        return {"name": self.name, "strategy": self.strategy, "step_ms": self.step_ms,
                "backward_end_ms": self.backward_end_ms, "notes": self.notes,
                "buckets": [{"bytes": b, "ready_ms": r} for b, r in self.buckets]}

    @property
    def total_bytes(self):
        return sum(b for b, _ in self.buckets)


def read_metrics(path, skip=1):
    """(train records, buckets records) of a metrics.jsonl, the first `skip` taken steps left out
    (warm-up), matched by step."""
    train, buckets = {}, {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "train" and not r.get("skipped"):
                train[r["step"]] = r
            elif r.get("kind") == "buckets":
                buckets[r["step"]] = r
    steps = sorted(train)[skip:]
    if not steps:
        sys.exit(f"scaling_model: {path}: no train records after the first {skip}")
    missing = [s for s in steps if s not in buckets]
    if missing:
        sys.exit(f"scaling_model: {path}: no buckets record for step {missing[0]}: run with "
                 "--log.bucket_timeline true")
    return [train[s] for s in steps], [buckets[s] for s in steps]


def workload_from_metrics(path, skip=1, name=None):
    """The medians of a Frost run's steps. step_ms: the train records' step_ms minus their
    comm_wait_ms (on one rank that is 0: nothing waits); backward_end_ms: the time before the
    timeline's origin (forward, data wait, the backward before the first gradient hook) plus
    the buckets record's backward_ms; ready times shifted by the same offset."""
    train, bk = read_metrics(path, skip)
    med = statistics.median
    step = med(r["step_ms"] - r.get("comm_wait_ms", 0.0) for r in train)
    before_origin = med(r.get("data_wait_ms", 0.0) + r["forward_ms"] + r["backward_ms"] - b["backward_ms"]
                        for r, b in zip(train, bk))
    nb = len(bk[0]["bytes"])
    if any(len(b["bytes"]) != nb for b in bk):
        sys.exit(f"scaling_model: {path}: the number of buckets changes between steps")
    buckets = [(bk[0]["bytes"][k], before_origin + med(b["ready_ms"][k] for b in bk)) for k in range(nb)]
    end = before_origin + med(b["backward_ms"] for b in bk)
    strategy = train[0].get("strategy", "")
    return Workload(name or f"{os.path.basename(os.path.dirname(os.path.abspath(path)))}", strategy, step, end,
                    buckets, notes=f"medians of {len(train)} steps of {path}")


def measured_comm(path, skip=1):
    """What a multi-rank run measured: medians of step_ms, comm_wait_ms, the per-bucket
    all-reduce times and the per-bucket ready times (for the comparison of --check-cpu)."""
    train, bk = read_metrics(path, skip)
    med = statistics.median
    nb = len(bk[0]["bytes"])
    ar = []
    for k in range(nb):
        vals = [b["allreduce_ms"][k] for b in bk if b["allreduce_ms"][k] is not None]
        ar.append(med(vals) if vals else None)
    return {"step_ms": med(r["step_ms"] for r in train), "comm_wait_ms": med(r["comm_wait_ms"] for r in train),
            "allreduce_ms": ar, "bytes": bk[0]["bytes"]}


# ------------------------------------------------------------------------------ simulation
def simulate(w, link, n, overlap=True):
    """Replays w's bucket schedule on `link` at `n` GPUs (module docstring). Returns a dict:
    step_ms, efficiency, exposed_ms (communication after backward's end), and per bucket
    (index, bytes, ready_ms, start_ms, end_ms, allreduce_ms)."""
    rows, prev_end = [], 0.0
    for k, (nbytes, ready) in enumerate(w.buckets):
        t = link.time(nbytes, n) * 1e3
        start = max(ready if overlap else w.backward_end_ms, prev_end)
        end = start + t
        rows.append({"bucket": k, "bytes": nbytes, "ready_ms": ready, "start_ms": start, "end_ms": end,
                     "allreduce_ms": t})
        prev_end = end
    last_end = rows[-1]["end_ms"] if rows else 0.0
    exposed = max(0.0, last_end - w.backward_end_ms)
    step = w.step_ms + exposed
    return {"n": n, "overlap": overlap, "step_ms": step, "efficiency": w.step_ms / step if step > 0 else 1.0,
            "exposed_ms": exposed, "comm_ms": sum(r["allreduce_ms"] for r in rows), "buckets": rows}


def stall(w, sim):
    """Where the schedule stalls: the buckets whose all-reduce ends after backward's end (the
    exposed tail), the one among them that was ready last, and how the exposed time splits into
    that bucket's own all-reduce and the backlog ahead of it. None when nothing is exposed."""
    if sim["exposed_ms"] <= 0.0:
        return None
    tail = [r for r in sim["buckets"] if r["end_ms"] > w.backward_end_ms]
    last = max(tail, key=lambda r: (r["ready_ms"], r["bucket"]))
    backlog = max(0.0, last["start_ms"] - max(last["ready_ms"], w.backward_end_ms))
    return {"buckets": [r["bucket"] for r in tail], "bytes": sum(r["bytes"] for r in tail),
            "last_ready": last, "ready_frac": last["ready_ms"] / w.backward_end_ms if w.backward_end_ms else 1.0,
            "backlog_ms": backlog, "exposed_ms": sim["exposed_ms"]}


def mb(nbytes):
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 1e5 else f"{nbytes / 1e3:.1f} kB"


def describe_stall(w, sim):
    s = stall(w, sim)
    if s is None:
        return "none: every all-reduce ends before backward does"
    lr = s["last_ready"]
    ids = s["buckets"]
    span = f"bucket {ids[0]}" if len(ids) == 1 else f"buckets {ids[0]}-{ids[-1]}"
    return (f"{span} ({mb(s['bytes'])}) end after backward; bucket {lr['bucket']} "
            f"({mb(lr['bytes'])}) is ready only at {100 * s['ready_frac']:.0f}% of backward and its "
            f"all-reduce ({lr['allreduce_ms']:.2f} ms) waits {s['backlog_ms']:.2f} ms for the ones ahead: "
            f"{s['exposed_ms']:.2f} ms exposed")


# ------------------------------------------------------------------- parametric workloads
def bucketize(params, cap_bytes=25 * MIB, elem_bytes=4):
    """Frost's bucket assignment (grad_reducer.cpp): parameters in reverse registration order,
    a new bucket when the next one would take a non-empty bucket past the cap. params:
    [(name, numel, ready_frac)] in registration order; ready_frac: the fraction of backward
    done when its gradient is ready. Returns [(bytes, ready_frac of the bucket's last
    gradient, [names])] in launch order; a bucket's launch waits for the ones before it."""
    out, cur, cur_bytes, cur_ready = [], [], 0, 0.0
    for name, numel, ready in reversed(params):
        nbytes = numel * elem_bytes
        if cur and cur_bytes + nbytes > cap_bytes:
            out.append((cur_bytes, cur_ready, cur))
            cur, cur_bytes, cur_ready = [], 0, 0.0
        cur.append(name)
        cur_bytes += nbytes
        cur_ready = max(cur_ready, ready)
    if cur:
        out.append((cur_bytes, cur_ready, cur))
    launch, res = 0.0, []
    for nbytes, ready, names in out:
        launch = max(launch, ready)
        res.append((nbytes, launch, names))
    return res


def with_ready_fracs(layers):
    """layers: [(name, numel, backward_work)] in registration order; backward runs them in
    reverse, so a parameter's gradient is ready when the work of its layer and of every later
    one is done. Returns [(name, numel, ready_frac)]."""
    total = sum(wk for _, _, wk in layers) or 1.0
    out, done = [], 0.0
    for name, numel, wk in reversed(layers):
        done += wk
        out.append((name, numel, done / total))
    return list(reversed(out))


def bert_base_params(num_classes=2, seq=128):
    """BERT-base (Hugging Face bert-base-uncased layout: vocab 30522, hidden 768, 12 layers,
    intermediate 3072, 512 positions) with a [CLS] pooler and a linear head, in registration
    order; backward work per parameter ~ its multiply-adds per token (linear layers: numel;
    attention scores and context: 2 * seq * hidden per layer; embeddings, LayerNorm, biases: 0,
    a gather/elementwise)."""
    V, H, L, I, P = 30522, 768, 12, 3072, 512
    ps = [("embeddings.word_embeddings.weight", V * H, 0.0), ("embeddings.position_embeddings.weight", P * H, 0.0),
          ("embeddings.token_type_embeddings.weight", 2 * H, 0.0), ("embeddings.LayerNorm.weight", H, 0.0),
          ("embeddings.LayerNorm.bias", H, 0.0)]
    for l in range(L):
        p = f"encoder.layer.{l}."
        for m in ("query", "key", "value"):
            ps += [(p + f"attention.self.{m}.weight", H * H, H * H), (p + f"attention.self.{m}.bias", H, 0.0)]
        ps[-1] = (ps[-1][0], ps[-1][1], 2.0 * seq * H)  # scores and context, with the QKV bias
        ps += [(p + "attention.output.dense.weight", H * H, H * H), (p + "attention.output.dense.bias", H, 0.0),
               (p + "attention.output.LayerNorm.weight", H, 0.0), (p + "attention.output.LayerNorm.bias", H, 0.0),
               (p + "intermediate.dense.weight", I * H, I * H), (p + "intermediate.dense.bias", I, 0.0),
               (p + "output.dense.weight", H * I, H * I), (p + "output.dense.bias", H, 0.0),
               (p + "output.LayerNorm.weight", H, 0.0), (p + "output.LayerNorm.bias", H, 0.0)]
    ps += [("pooler.dense.weight", H * H, H * H / seq), ("pooler.dense.bias", H, 0.0),  # [CLS] row only
           ("head.weight", num_classes * H, num_classes * H / seq), ("head.bias", num_classes, 0.0)]
    return ps


def resnet50_params(num_classes=1000, image=224):
    """ResNet-50 (torchvision layout, v1.5: stride on the 3x3 convolution) in registration
    order; backward work per parameter ~ its multiply-adds per image (a convolution: weights x
    output positions; BatchNorm: 0)."""
    ps = []
    s = image // 2  # conv1 stride 2
    ps += [("conv1.weight", 64 * 3 * 49, 64 * 3 * 49 * s * s), ("bn1.weight", 64, 0.0), ("bn1.bias", 64, 0.0)]
    s //= 2  # max pool
    cin = 64
    for li, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}."
            st = stride if b == 0 else 1
            so = s // st
            out = width * 4
            ps += [(p + "conv1.weight", width * cin, width * cin * s * s), (p + "bn1.weight", width, 0.0),
                   (p + "bn1.bias", width, 0.0),
                   (p + "conv2.weight", width * width * 9, width * width * 9 * so * so), (p + "bn2.weight", width, 0.0),
                   (p + "bn2.bias", width, 0.0),
                   (p + "conv3.weight", out * width, out * width * so * so), (p + "bn3.weight", out, 0.0),
                   (p + "bn3.bias", out, 0.0)]
            if b == 0:
                ps += [(p + "downsample.0.weight", out * cin, out * cin * so * so), (p + "downsample.1.weight", out, 0.0),
                       (p + "downsample.1.bias", out, 0.0)]
            cin, s = out, so
    ps += [("fc.weight", num_classes * 2048, num_classes * 2048), ("fc.bias", num_classes, 0.0)]
    return ps


# Assumed compute times of one GPU step (H200-like), until the GPU harness measures them.
# forward : backward = 1 : 2 (backward computes the input and the weight gradients).
H200_BF16_TFLOPS = 989.0  # dense, [h200]
ASSUMED_COMPUTE = {
    "bert-base": {
        "batch": 32, "seq": 128, "mfu": 0.40,
        "flops_per_sample": lambda seq: 6 * 110e6 * seq,
        "why": "6 x parameters x tokens FLOPs per training step (Kaplan et al. 2020, "
               "arXiv:2001.08361: C ~ 6N per token), 110 M parameters, batch 32 x 128 tokens per GPU, "
               "at an ASSUMED 40% of the H200's 989 dense BF16 TFLOPS [h200]",
    },
    "resnet50": {
        "batch": 256, "image": 224, "mfu": 0.20,
        "flops_per_sample": lambda _: 3 * 2 * 4.09e9,
        "why": "3 x the forward's 4.09 GMACs (torchvision's figure) x 2 FLOPs per MAC per image, batch "
               "256 per GPU, at an ASSUMED 20% of the H200's 989 dense BF16 TFLOPS [h200]: the share "
               "that NVIDIA's DeepLearningExamples ResNet-50 v1.5 PyTorch reaches on one A100 80GB "
               "(2470 img/s with AMP, of 312 TFLOPS)",
    },
}


def preset_workloads(name, cap_bytes=25 * MIB):
    """The full and head workloads of a parametric preset (assumed compute, ASSUMED_COMPUTE)."""
    a = ASSUMED_COMPUTE[name]
    if name == "bert-base":
        params, ctx = bert_base_params(seq=a["seq"]), a["seq"]
        head_names = {"head.weight", "head.bias"}
    else:
        params, ctx = resnet50_params(image=a["image"]), a["image"]
        head_names = {"fc.weight", "fc.bias"}
    step_full = a["batch"] * a["flops_per_sample"](ctx) / (a["mfu"] * H200_BF16_TFLOPS * 1e12) * 1e3
    fwd = step_full / 3.0
    bwd = step_full - fwd
    ready = with_ready_fracs(params)
    full_b = [(nbytes, fwd + frac * bwd) for nbytes, frac, _ in bucketize(ready, cap_bytes)]
    full = Workload(f"{name} (parametric)", "full", step_full, fwd + bwd, full_b,
                    notes=f"ASSUMED step {step_full:.1f} ms: {a['why']}")
    # head: the frozen backbone only runs forward (no gradients), the head's backward is
    # negligible; its one bucket is ready when the step's compute ends.
    head_params = [(n, k, 1.0) for n, k, _ in ready if n in head_names]
    head_b = [(nbytes, fwd) for nbytes, _, _ in bucketize(head_params, cap_bytes)]
    head = Workload(f"{name} (parametric)", "head", fwd, fwd, head_b,
                    notes=f"ASSUMED step {fwd:.1f} ms: the forward third of the full step")
    return [full, head]


def numbers_workload(params_mb, compute_ms, backward_frac=2 / 3, cap_bytes=25 * MIB, strategy="full"):
    """A workload given by numbers: params_mb of float32 gradients produced evenly over the
    backward part (backward_frac of compute_ms, at the end of the step), bucketed at the cap."""
    n = int(params_mb * 1e6 / 4)
    chunk = max(1, n // 1000)
    layers = [(f"p{i}", min(chunk, n - i * chunk), min(chunk, n - i * chunk)) for i in range((n + chunk - 1) // chunk)]
    fwd = compute_ms * (1 - backward_frac)
    b = [(nbytes, fwd + frac * (compute_ms - fwd)) for nbytes, frac, _ in bucketize(with_ready_fracs(layers), cap_bytes)]
    return Workload(f"{params_mb:g} MB / {compute_ms:g} ms", strategy, compute_ms, compute_ms, b,
                    notes="given by numbers; gradients ready evenly over backward")


# ------------------------------------------------------------------------------- reports
def predictions_table(workloads, link, gpus):
    lines = ["| workload | strategy | compute-only step (ms) | gradient MB | buckets | "
             + " | ".join(f"{n} GPUs overlap / no overlap" for n in gpus) + " | stall at the largest N (overlap) |",
             "|:--|:--|--:|--:|--:|" + "--:|" * len(gpus) + ":--|"]
    for w in workloads:
        cells = []
        for n in gpus:
            a, b = simulate(w, link, n, True), simulate(w, link, n, False)
            cells.append(f"{100 * a['efficiency']:.1f}% / {100 * b['efficiency']:.1f}%")
        st = describe_stall(w, simulate(w, link, gpus[-1], True))
        lines.append(f"| {w.name} | {w.strategy} | {w.step_ms:.1f} | {w.total_bytes / 1e6:.2f} | {len(w.buckets)} | "
                     + " | ".join(cells) + f" | {st} |")
    return "\n".join(lines)


def schedule_table(w, link, n):
    sim = simulate(w, link, n, True)
    lines = [f"{w.name} {w.strategy} at {n} GPUs ({link.name}); backward ends at {w.backward_end_ms:.2f} ms:",
             "| bucket | MB | ready ms | start ms | all-reduce ms | end ms |", "|--:|--:|--:|--:|--:|--:|"]
    for r in sim["buckets"]:
        lines.append(f"| {r['bucket']} | {r['bytes'] / 1e6:.2f} | {r['ready_ms']:.2f} | {r['start_ms']:.2f} | "
                     f"{r['allreduce_ms']:.3f} | {r['end_ms']:.2f} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------- the CPU check
def check_cpu(args):
    """Runs the bench/common.py workloads with the bucket timeline on 1 rank (compute only) and
    2 ranks, measures the 2-rank all-reduce with frost-bench, and compares the model's 2-rank
    prediction with the measurement. Returns the markdown report."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import common  # noqa: E402 (re-executes in the project's venv when needed)

    args.models = args.models.split(",")
    args.work = args.work or "runs/scaling_model"
    common.ensure_setup(args, python_packages=False)
    inits = {} if args.reuse else common.make_inits(args)
    # --two-nodes: the 2-rank runs and the link table of bench/scaling_model_two_nodes.sh (one
    # rank on each of two network namespaces joined by a veth pair, MPI over TCP).
    multi = "2nodes" if args.two_nodes else "np2"
    csv = os.path.join(ROOT, args.work, "allreduce-2nodes.csv" if args.two_nodes else "allreduce.csv")
    if args.two_nodes:
        if not os.path.exists(csv):
            sys.exit(f"scaling_model: {csv} is missing: run bench/scaling_model_two_nodes.sh first")
    elif not (args.reuse and os.path.exists(csv)):
        common.log("frost-bench allreduce on 2 ranks")
        common.sh(["launch/frost-mpirun", "--quiet", "-np", "2", f"{args.build}/frost-bench", "allreduce",
                   "--min-bytes", "1K", "--max-bytes", "64M", "--csv", csv])
    link = TableLink(csv, 2)
    rows = []
    for model in args.models:
        for strategy in args.strategies.split(","):
            res = {}
            for np in (1, 2):
                tag = f"{model}-{strategy}-" + ("np1" if np == 1 else multi)
                res[np] = os.path.join(ROOT, args.work, f"{tag}-frost", "metrics.jsonl")
                if (args.reuse or args.two_nodes) and os.path.exists(res[np]):
                    continue
                if np == 2 and args.two_nodes:
                    sys.exit(f"scaling_model: {res[np]} is missing: run bench/scaling_model_two_nodes.sh first")
                common.log(f"{tag}: {args.warmup} + {args.steps} steps")
                common.run_frost(args, model, strategy, np, 1, inits[model], tag,
                                 extra=["--log.bucket_timeline", "true"])
            w1 = workload_from_metrics(res[1], skip=args.warmup, name=model)
            w2 = workload_from_metrics(res[2], skip=args.warmup, name=model)
            m2 = measured_comm(res[2], skip=args.warmup)
            p_from_1 = simulate(w1, link, 2, True)
            # The 2-rank run's own ready times (compute slowed by the other rank as it was):
            # isolates the schedule model from the compute model.
            p_from_2 = simulate(w2, link, 2, True)
            ar_pred = sum(r["allreduce_ms"] for r in p_from_1["buckets"])
            ar_meas = sum(a for a in m2["allreduce_ms"] if a is not None)
            rows.append({"model": model, "strategy": strategy, "buckets": len(w1.buckets),
                         "mb": w1.total_bytes / 1e6, "step1": w1.step_ms, "compute2": w2.step_ms,
                         "pred_step": p_from_1["step_ms"], "pred_step2": p_from_2["step_ms"],
                         "meas_step": m2["step_ms"],
                         "pred_wait": p_from_1["exposed_ms"], "pred_wait2": p_from_2["exposed_ms"],
                         "meas_wait": m2["comm_wait_ms"], "pred_ar": ar_pred, "meas_ar": ar_meas,
                         "stall": describe_stall(w2, p_from_2)})
    lines = ["| model | strategy | buckets | MB | step ms: 1 rank / 2 ranks measured | 2-rank step predicted "
             "from the 1-rank run (error) / from the 2-rank run's compute (error) | comm wait ms: measured / "
             "predicted from 2-rank ready times / from 1-rank | all-reduce ms, sum: measured / predicted | "
             "stall (2-rank ready times) |",
             "|:--|:--|--:|--:|:--|:--|:--|:--|:--|"]
    pct = lambda a, b: f"{100 * (a - b) / b:+.0f}%" if b else "n/a"
    for r in rows:
        lines.append(f"| {r['model']} | {r['strategy']} | {r['buckets']} | {r['mb']:.2f} | "
                     f"{r['step1']:.1f} / {r['meas_step']:.1f} | {r['pred_step']:.1f} ({pct(r['pred_step'], r['meas_step'])}) / "
                     f"{r['pred_step2']:.1f} ({pct(r['pred_step2'], r['meas_step'])}) | {r['meas_wait']:.2f} / "
                     f"{r['pred_wait2']:.2f} / {r['pred_wait']:.2f} | {r['meas_ar']:.2f} / {r['pred_ar']:.2f} | "
                     f"{r['stall']} |")
    return "\n".join(lines) + f"\n\nLink: {link.describe()}; {args.warmup} warm-up + {args.steps} steps, medians.", rows


def write_region(path, name, text):
    """Replaces the text between <!-- NAME:begin --> and <!-- NAME:end --> in `path`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    with open(path) as f:
        doc = f.read()
    if doc.count(begin) != 1 or doc.count(end) != 1:
        sys.exit(f"scaling_model: {path} has no single region {begin} ... {end}")
    head, rest = doc.split(begin)
    _, tail = rest.split(end)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + text.strip() + "\n" + end + tail)


# ------------------------------------------------------------------------------------ CLI
def _number(kind, zero_ok=False):
    """argparse type: a finite number of `kind` (int or float), > 0 (>= 0 with zero_ok)."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}")
        if not (v >= 0 if zero_ok else v > 0) or v == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {'>=' if zero_ok else '>'} 0 and finite, got {text}")
        return v
    return parse


_positive = _number
_non_negative_float = _number(float, zero_ok=True)
_non_negative_int = _number(int, zero_ok=True)


def _gpu_counts(text):
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of GPU counts, got {text!r}")
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"GPU counts must be >= 1, got {text}")
    return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--metrics", action="append", default=[], help="a Frost run's metrics.jsonl (repeatable)")
    p.add_argument("--json", action="append", default=[], help="a workload as JSON (repeatable)")
    p.add_argument("--preset", action="append", default=[], choices=sorted(ASSUMED_COMPUTE),
                   help="parametric workload (full and head), assumed compute")
    p.add_argument("--params-mb", type=_positive(float), help="with --compute-ms: a workload given by numbers (MB of gradients)")
    p.add_argument("--compute-ms", type=_positive(float), help="with --params-mb: the step's compute time (ms)")
    p.add_argument("--skip", type=_non_negative_int, default=1, help="warm-up steps of --metrics left out")
    p.add_argument("--bucket-cap-mb", type=_positive(float), default=25.0, help="dist.bucket_cap_mb (MiB) of parametric workloads")
    p.add_argument("--link", default=DEFAULT_LINK, choices=sorted(LINKS))
    p.add_argument("--busbw", type=_positive(float), help="override the intra-node busbw (GB/s)")
    p.add_argument("--inter-busbw", type=_positive(float), help="override the inter-node busbw (GB/s)")
    p.add_argument("--latency-us", type=_non_negative_float, help="override the intra-node latency (us)")
    p.add_argument("--link-csv", help="a frost-bench allreduce --csv table instead of a preset (with --gpus N)")
    p.add_argument("--gpus", type=_gpu_counts, default="8,64,512", help="comma-separated GPU counts to predict (default 8,64,512)")
    p.add_argument("--schedule", action="store_true", help="also print each workload's bucket schedule")
    p.add_argument("--dump-json", help="write the workloads as JSON")
    p.add_argument("--doc", help="also write the table into its region of this markdown page "
                   "(scaling-model-check with --check-cpu, else scaling-model-predictions)")
    # --check-cpu (bench/common.py's options)
    p.add_argument("--check-cpu", action="store_true", help="run Frost here (1 and 2 ranks, log.bucket_timeline) and compare the model with the measurement; runs launch/setup.sh first unless --no-setup or --reuse")
    p.add_argument("--models", default="resnet,bert", help="--check-cpu: workloads of bench/common.py")
    p.add_argument("--strategies", default="full,head", help="--check-cpu: strategies")
    p.add_argument("--warmup", type=_non_negative_int, default=2, help="--check-cpu: untimed steps per run")
    p.add_argument("--steps", type=_positive(int), default=8, help="--check-cpu: timed steps per run")
    p.add_argument("--work", default=None, help="--check-cpu: run directory")
    p.add_argument("--run-timeout", type=_positive(int), default=1800, help="--check-cpu: seconds one run may take")
    p.add_argument("--no-setup", action="store_true", help="--check-cpu: skip launch/setup.sh (Frost already built)")
    p.add_argument("--reuse", action="store_true", help="--check-cpu: reuse the runs already in --work")
    p.add_argument("--two-nodes", action="store_true",
                   help="--check-cpu against the runs of bench/scaling_model_two_nodes.sh")
    p.add_argument("--no-plot", action="store_true", default=True)
    p.add_argument("--build", default=os.environ.get("FROST_BUILD_DIR", "build"), help="--check-cpu: Frost's build directory")
    args = p.parse_args(argv)
    gpus = args.gpus if isinstance(args.gpus, list) else _gpu_counts(args.gpus)
    if args.reuse:
        args.no_setup = True  # the runs exist: nothing to install or build
    try:
        return run(p, args, gpus)
    except (OSError, ValueError, KeyError, TypeError) as e:
        # A missing or malformed input file (a killed run's truncated metrics.jsonl, a JSON
        # workload without a key): one line, exit 1.
        what = f"a workload or record lacks the key {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        print(f"scaling_model.py: error: {what}", file=sys.stderr)
        return 1


def run(p, args, gpus):

    if args.check_cpu:
        text, _ = check_cpu(args)
        print(text)
        if args.doc:
            write_region(args.doc, "scaling-model-two-nodes" if args.two_nodes else "scaling-model-check", text)
        return 0

    if args.link_csv:
        link = TableLink(args.link_csv, gpus[0])
    else:
        link = Link.preset(args.link, intra_busbw=args.busbw, inter_busbw=args.inter_busbw,
                           intra_latency_us=args.latency_us)
    cap = int(args.bucket_cap_mb * MIB)
    workloads = []
    for path in args.metrics:
        workloads.append(workload_from_metrics(path, args.skip))
    for path in args.json:
        with open(path) as f:
            d = json.load(f)
        workloads += [Workload.from_dict(x) for x in (d if isinstance(d, list) else [d])]
    for name in args.preset:
        workloads += preset_workloads(name, cap)
    if args.params_mb is not None:
        if args.compute_ms is None:
            p.error("--params-mb needs --compute-ms")
        workloads.append(numbers_workload(args.params_mb, args.compute_ms, cap_bytes=cap))
    if not workloads:
        p.error("give a workload: --metrics, --json, --preset or --params-mb with --compute-ms")
    if args.dump_json:
        with open(args.dump_json, "w") as f:
            json.dump([w.to_dict() for w in workloads], f, indent=1)
    print(f"Link: {link.describe()}")
    if getattr(link, "source", ""):
        print(f"  {link.source}")
    print()
    table = predictions_table(workloads, link, gpus)
    print(table)
    print()
    if args.doc:
        write_region(args.doc, "scaling-model-predictions", table)
    for w in workloads:
        print(f"* {w.name} {w.strategy}: {w.notes}")
    if args.schedule:
        for w in workloads:
            print()
            print(schedule_table(w, link, gpus[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
