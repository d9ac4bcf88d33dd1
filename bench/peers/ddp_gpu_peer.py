#!/usr/bin/env python3
"""The peer of bench/gpu.py: BERT-base and ResNet-50 fine-tuning in plain PyTorch 2.11 with
DistributedDataParallel, written the way PyTorch's documentation and examples teach, on one
GPU (or, for a test of the harness, on the CPU). Needs torch only (h5py is used when present).

    python3 bench/peers/ddp_gpu_peer.py train --model resnet50 --strategy full --device cuda \\
        --data DIR/train.h5 --init init.pt --batch-size 64 --precision bf16 --warmup 10 \\
        --steps 40 --out result.json
    python3 bench/peers/ddp_gpu_peer.py make-init --model bert --hf-config config.json \\
        --num-classes 2 --seed 0 --out init.pt
    python3 bench/peers/ddp_gpu_peer.py gemm --device cuda --out gemm.json

Recipe (what a user's script does; each item is a documented PyTorch idiom):
  * torch.distributed with NCCL on a GPU (gloo on the CPU), DDP over the model also at world size
    1 (defaults: 25 MiB buckets, broadcast_buffers); rank/world from RANK/WORLD_SIZE or OpenMPI's
    variables, rendezvous tcp://127.0.0.1:PORT.
  * Data: a map-style Dataset of single samples read from the Frost HDF5 file with h5py (opened
    lazily in each worker), or from its raw copy (frost-prep synthetic --raw: memory-mapped with
    torch.from_file) where h5py is missing; DataLoader(batch_size=B, num_workers=W,
    pin_memory=True, persistent_workers, drop_last, prefetch_factor 2) in file order (Frost's
    data.shuffle = false order, for the loss check); .to(device, non_blocking=True). Images leave
    the loader as uint8 and are normalised on the GPU ((x/255 - mean)/std in float32, as timm's
    PrefetchLoader does); token batches are cut to their longest row (Hugging Face's
    DataCollatorWithPadding pads to the longest; Frost's loader does the same).
  * torch.autocast("cuda", dtype=torch.bfloat16) around forward and loss for --precision bf16;
    fp32 runs with PyTorch's defaults (cuDNN convolutions may use TF32, matrix products do not).
  * ResNet-50: torchvision's layout (Bottleneck v1.5) written out, channels_last model and
    inputs, torch.backends.cudnn.benchmark = True (the ImageNet example's setting).
  * BERT: Hugging Face BertModel's layout and names (the modules of bench/peers/ddp_peer.py,
    imported from there) with its "sdpa" attention:
    F.scaled_dot_product_attention with the additive mask (finfo.min at padding) in the query's
    dtype; dropout probabilities from config.json (bench/gpu.py writes 0, so that the losses can
    be compared step by step).
  * Optimizers with PyTorch's defaults (foreach implementation): AdamW for BERT, SGD with
    momentum for ResNet; zero_grad(set_to_none=True).
  * head: requires_grad_(False) on the backbone, backbone.eval(), DDP over the model (only the
    head's gradients are reduced); the frozen backbone runs every step (a linear probe without a
    feature cache).
  * --compile: torch.compile over the DDP module (the default inductor backend; DDP's
    optimizer splits the graph at bucket boundaries so that all-reduces still overlap).

Timing: every step records CUDA events around H2D, forward (incl. loss), backward (incl. DDP's
all-reduce, which overlaps it), optimizer; data wait is host time spent in next(loader). Losses
stay on the GPU and are read every --log-every steps (one synchronisation, as a training script
that logs every N steps). samples/s = B x timed steps / wall time of the timed steps (synchronised
at both ends). On the CPU the phases are host times. Peak memory: torch.cuda.max_memory_allocated.
FLOPs per sample: torch.utils.flop_counter.FlopCounterMode over one step (forward + backward, or
for head: backbone forward + head forward/backward) of a copy of the model on the first batch.

Output (--out, and stdout): one JSON object; see `result` in train().
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

# The BERT modules and Classifier are those of the CPU peer (bench/peers/ddp_peer.py, shipped next
# to this file; importing it needs torch only), with the "sdpa" self-attention selected.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ddp_peer import BertBackbone, Classifier, torchvision_init  # noqa: E402


# ---------------------------------------------------------------------------------- models
def conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5: stride on the 3x3), expansion 4."""

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50Backbone(nn.Module):
    """Frost's resnet50 backbone (torchvision ResNet-50 without fc): 7x7/2 stem + 3x3/2 max-pool,
    stages [3, 4, 6, 3] of width w, 2w, 4w, 8w (x4), global average pool -> [B, 32w]."""

    def __init__(self, width=64, in_channels=3):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        cin = width
        for stage, blocks in enumerate((3, 4, 6, 3)):
            planes, layer = width << stage, []
            for i in range(blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                down = None
                if stride != 1 or cin != planes * 4:
                    down = nn.Sequential(conv(cin, planes * 4, 1, stride), nn.BatchNorm2d(planes * 4))
                layer.append(Bottleneck(cin, planes, stride, down))
                cin = planes * 4
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))
        self.feature_dim = cin
        torchvision_init(self)

    def forward(self, x, attention_mask=None):
        x = F.max_pool2d(self.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def build_model(args, num_classes):
    if args.model == "resnet50":
        return Classifier(ResNet50Backbone(args.width, args.in_channels), num_classes)
    with open(args.hf_config) as f:
        return Classifier(BertBackbone(json.load(f), pooling="cls", attention="sdpa"), num_classes)


def make_init(args):
    torch.manual_seed(args.seed)
    model = build_model(args, args.num_classes)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, args.out)
    print(f"make-init: {len(state)} tensors, {sum(p.numel() for p in model.parameters())} parameters -> {args.out}")


# ------------------------------------------------------------------------------------ data
def _attr(v):
    return v.decode() if isinstance(v, bytes) else v


class FrostSamples(torch.utils.data.Dataset):
    """Sample i of a Frost HDF5 file: (inputs, attention_mask or empty, label). Reads with h5py
    when it is installed (the file opened lazily in each worker), else from the raw copy
    <file>.raw.json (frost-prep synthetic --raw), memory-mapped with torch.from_file."""

    def __init__(self, path, force_raw=False):
        self.path, self.h5 = path, None
        self.reader = "raw" if force_raw else "h5py"
        if not force_raw:
            try:
                import h5py  # noqa: F401
            except ImportError:
                self.reader = "raw"
        if self.reader == "h5py":
            import h5py
            with h5py.File(path, "r") as f:
                self.n = int(f["labels"].shape[0])
                self.kind = str(_attr(f.attrs["input_kind"]))
                self.num_classes = int(f.attrs["num_classes"])
                self.has_mask = "attention_mask" in f
                self.mean = [float(v) for v in f.attrs["mean"]] if self.kind == "image" else None
                self.std = [float(v) for v in f.attrs["std"]] if self.kind == "image" else None
        else:
            manifest = path + ".raw.json"
            if not os.path.exists(manifest):
                sys.exit(f"ddp_gpu_peer: no h5py here and no raw copy {manifest} (frost-prep synthetic --raw)")
            with open(manifest) as f:
                m = json.load(f)
            self.raw, self.dir = m["arrays"], os.path.dirname(os.path.abspath(manifest))
            self.n, self.kind, self.num_classes = m["num_samples"], m["input_kind"], m["num_classes"]
            self.has_mask = "attention_mask" in self.raw
            self.mean, self.std = m.get("mean"), m.get("std")
        self.arrays = None

    def _open(self):
        if self.reader == "h5py":
            import h5py
            self.h5 = h5py.File(self.path, "r")
            self.arrays = {k: self.h5[k] for k in ("inputs", "labels") + (("attention_mask",) if self.has_mask else ())}
        else:
            dtypes = {"uint8": torch.uint8, "int32": torch.int32, "int64": torch.int64}
            self.arrays = {}
            for k, spec in self.raw.items():
                numel = math.prod(spec["shape"])
                t = torch.from_file(os.path.join(self.dir, spec["file"]), shared=True, size=numel,
                                    dtype=dtypes[spec["dtype"]])
                self.arrays[k] = t.view(spec["shape"])

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.arrays is None:
            self._open()
        a = self.arrays
        x = torch.as_tensor(a["inputs"][i])
        if self.kind == "tokens":
            x = x.to(torch.int64)
        mask = torch.as_tensor(a["attention_mask"][i]) if self.has_mask else torch.zeros(0, dtype=torch.uint8)
        return x, mask, torch.as_tensor(int(a["labels"][i]))


def collate(samples):
    x, mask, y = torch.utils.data.default_collate(samples)
    if mask.numel():  # pad to the longest row of the batch
        used = mask.any(0).nonzero()
        width = int(used[-1]) + 1 if len(used) else 1
        x, mask = x[:, :width].contiguous(), mask[:, :width].contiguous()
    return x, mask, y


# ---------------------------------------------------------------------------------- timing
class Marks:
    """Phase boundaries of one step: CUDA events on a GPU, host clocks on the CPU."""

    def __init__(self, cuda, n):
        self.cuda = cuda
        self.ev = [torch.cuda.Event(enable_timing=True) for _ in range(n)] if cuda else [0.0] * n

    def mark(self, i):
        if self.cuda:
            self.ev[i].record()
        else:
            self.ev[i] = time.perf_counter()

    def ms(self, a, b):
        return self.ev[a].elapsed_time(self.ev[b]) if self.cuda else (self.ev[b] - self.ev[a]) * 1e3


# ---------------------------------------------------------------------------------- train
def train(args):
    rank = int(os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1")))
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.set_device(rank % torch.cuda.device_count())
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
        if args.threads:
            torch.set_num_threads(args.threads)
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                            rank=rank, world_size=world, **({"device_id": device} if cuda else {}))
    torch.backends.cudnn.benchmark = args.model == "resnet50"
    dataset = FrostSamples(args.data, args.raw)
    model = build_model(args, dataset.num_classes)
    model.load_state_dict(torch.load(args.init, map_location="cpu"), strict=True)
    head = args.strategy == "head"
    if head:
        model.backbone.requires_grad_(False)
    model.train()
    if head:
        model.backbone.eval()
    channels_last = args.model == "resnet50" and cuda
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    params = [p for p in model.parameters() if p.requires_grad]
    if args.model == "bert":
        optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    mean = std = None
    if dataset.kind == "image":
        mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)

    def to_device(batch):
        x, mask, y = (t.to(device, non_blocking=True) for t in batch)
        if dataset.kind == "image":
            x = x.float().div_(255).sub_(mean).div_(std)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        return x, (mask if mask.numel() else None), y

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=False, drop_last=True, num_workers=args.workers,
        pin_memory=cuda, persistent_workers=args.workers > 0, collate_fn=collate,
        **({"prefetch_factor": 2} if args.workers > 0 else {}))
    per_epoch = len(loader)
    if per_epoch < 1:
        sys.exit(f"ddp_gpu_peer: {dataset.n} samples are too few for batch {args.batch_size}")

    def batches():
        while True:
            yield from loader

    # FLOPs of one step, on a copy (BatchNorm statistics and optimizer state stay untouched).
    flops_per_sample = None
    if args.count_flops:
        from torch.utils.flop_counter import FlopCounterMode
        x, mask, y = to_device(next(iter(loader)))
        probe = copy.deepcopy(model)
        with FlopCounterMode(display=False) as counter:
            with amp:
                loss = F.cross_entropy(probe(x, mask), y)
            loss.backward()
        flops_per_sample = counter.get_total_flops() / args.batch_size
        del probe, loss, x, mask, y
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    if args.compile:  # the DDP module compiled, as PyTorch's DDP + torch.compile notes show
        ddp = torch.compile(ddp)

    total = args.warmup + args.steps if args.epochs == 0 else args.epochs * per_epoch
    timed_from = args.warmup if args.epochs == 0 else 0
    it = batches()
    losses, pending, marks, data_ms = [], [], [], []
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t_start = time.perf_counter()
    epoch_s = []
    for step in range(total):
        if step == timed_from:
            sync()
            t_start = time.perf_counter()
        m = Marks(cuda, 5)
        t0 = time.perf_counter()
        batch = next(it)
        data_ms.append((time.perf_counter() - t0) * 1e3)
        m.mark(0)
        x, mask, y = to_device(batch)
        m.mark(1)
        with amp:
            loss = F.cross_entropy(ddp(x, mask), y)
        m.mark(2)
        loss.backward()
        m.mark(3)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        m.mark(4)
        marks.append(m)
        pending.append(loss.detach())
        if (step + 1) % args.log_every == 0 or step + 1 == total:
            losses += torch.stack(pending).float().tolist()  # one synchronisation per window
            pending = []
        if args.epochs and (step + 1) % per_epoch == 0:
            sync()
            epoch_s.append(time.perf_counter())
    sync()
    wall = time.perf_counter() - t_start
    timed = marks[timed_from:]
    mean_ms = lambda a, b: sum(m.ms(a, b) for m in timed) / len(timed)
    n_timed = total - timed_from
    result = {
        "framework": "pytorch-ddp" + ("+compile" if args.compile else ""), "model": args.model,
        "strategy": args.strategy, "device": args.device, "precision": args.precision, "world_size": world,
        "batch_size": args.batch_size, "workers": args.workers, "reader": dataset.reader,
        "warmup": timed_from, "steps": n_timed, "epochs": args.epochs,
        "samples_per_s": world * args.batch_size * n_timed / wall, "wall_s": wall,
        "step_ms": wall * 1e3 / n_timed, "loss": losses,
        "data_ms": sum(data_ms[timed_from:]) / n_timed, "h2d_ms": mean_ms(0, 1), "forward_ms": mean_ms(1, 2),
        "backward_ms": mean_ms(2, 3), "optimizer_ms": mean_ms(3, 4), "comm_wait_ms": None,
        "timing": "cuda_events" if cuda else "host",
        "gpu_mem_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "gpu_mem_reserved_peak_mib": torch.cuda.max_memory_reserved() / 2**20 if cuda else None,
        "flops_per_sample": flops_per_sample, "compile": args.compile,
        "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
        "nccl_version": ".".join(map(str, torch.cuda.nccl.version())) if cuda else None,
        "gpu": torch.cuda.get_device_name() if cuda else None,
    }
    if rank == 0:
        line = json.dumps(result)
        if args.out:
            with open(args.out, "w") as f:
                f.write(line + "\n")
        print(line, flush=True)
    dist.barrier()
    dist.destroy_process_group()


# ----------------------------------------------------------------------------------- gemm
def gemm(args):
    """Peak matrix-product rate on this device: C = A @ B with n x n operands, timed over
    --iters products after 3 untimed ones. On a GPU: bf16, fp32 with TF32 and strict fp32; on
    the CPU: fp32."""
    cuda = args.device == "cuda"
    out = {"device": args.device, "n": args.n, "torch": torch.__version__, "cuda": torch.version.cuda,
           "nccl": ".".join(map(str, torch.cuda.nccl.version())) if cuda else None,
           "cudnn": torch.backends.cudnn.version() if cuda else None}

    def rate(dtype, n):
        a = torch.randn(n, n, device=args.device, dtype=dtype)
        b = torch.randn(n, n, device=args.device, dtype=dtype)
        for _ in range(3):
            a @ b
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.iters):
            a @ b
        if cuda:
            torch.cuda.synchronize()
        return 2 * n**3 * args.iters / (time.perf_counter() - t0) / 1e12

    def set_tf32(on):
        try:
            torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        except (AttributeError, RuntimeError):
            torch.backends.cuda.matmul.allow_tf32 = on

    if cuda:
        out["gpu"] = torch.cuda.get_device_name()
        torch.cuda.synchronize()
        out["bf16_tflops"] = rate(torch.bfloat16, args.n)
        set_tf32(True)
        out["tf32_tflops"] = rate(torch.float32, args.n)
        set_tf32(False)
        out["fp32_tflops"] = rate(torch.float32, args.n)
    else:
        out["fp32_tflops"] = rate(torch.float32, args.n)
    line = json.dumps(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    print(line, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("train", "make-init"):
        s = sub.add_parser(name)
        s.add_argument("--model", choices=("resnet50", "bert"), required=True)
        s.add_argument("--width", type=int, default=64, help="resnet50: base width (model.width)")
        s.add_argument("--in-channels", type=int, default=3, help="resnet50: image channels")
        s.add_argument("--hf-config", help="bert: Hugging Face config.json (model.hf_config)")
        s.add_argument("--seed", type=int, default=0)
    mi = sub.choices["make-init"]
    mi.add_argument("--num-classes", type=int, required=True)
    mi.add_argument("--out", required=True)
    tr = sub.choices["train"]
    tr.add_argument("--strategy", choices=("full", "head"), required=True)
    tr.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    tr.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    tr.add_argument("--data", required=True, help="training HDF5 file (Frost schema)")
    tr.add_argument("--raw", action="store_true", help="read the raw copy even if h5py is present")
    tr.add_argument("--init", required=True, help="initial weights from make-init")
    tr.add_argument("--batch-size", type=int, required=True, help="per-rank micro-batch")
    tr.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    tr.add_argument("--steps", type=int, default=40, help="timed steps")
    tr.add_argument("--epochs", type=int, default=0, help="instead of --warmup/--steps: whole epochs, all timed")
    tr.add_argument("--lr", type=float, required=True)
    tr.add_argument("--weight-decay", type=float, default=0.0)
    tr.add_argument("--workers", type=int, default=8, help="DataLoader worker processes")
    tr.add_argument("--threads", type=int, default=0, help="CPU: torch.set_num_threads (0: default)")
    tr.add_argument("--log-every", type=int, default=10, help="read the losses every this many steps")
    tr.add_argument("--compile", action="store_true", help="torch.compile the model")
    tr.add_argument("--count-flops", action="store_true", help="FLOPs per sample (FlopCounterMode)")
    tr.add_argument("--port", type=int, default=29531)
    tr.add_argument("--out", help="write the JSON result here too")
    g = sub.add_parser("gemm")
    g.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    g.add_argument("--n", type=int, default=8192)
    g.add_argument("--iters", type=int, default=20)
    g.add_argument("--out")
    args = p.parse_args()
    {"train": train, "make-init": make_init, "gemm": gemm}[args.command](args)


if __name__ == "__main__":
    main()
