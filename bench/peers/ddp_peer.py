#!/usr/bin/env python3
"""The peer baseline for bench/scaling.py: the same fine-tuning job in plain PyTorch with
DistributedDataParallel (gloo backend on CPU), written the way its documentation teaches.

Run with the venv's Python (launch/setup.sh: torch 2.11 from PyPI, whose LibTorch Frost links;
$FROST_VENV/bin/python, default .cache/venv/bin/python) under the same launcher as Frost, one
process per rank:

    launch/frost-mpirun -np 2 .cache/venv/bin/python bench/peers/ddp_peer.py train \\
        --model resnet --strategy full --data data/fashion-mnist/b/train.h5 --init init.pt \\
        --batch-size 32 --warmup 5 --steps 50 --lr 0.05 --threads 1 --port 29511 --out peer.json

Rank and world size come from OpenMPI's environment (OMPI_COMM_WORLD_RANK / _SIZE); the process
group is set up with init_method tcp://127.0.0.1:PORT (one node).

Recipe (torch.nn.parallel.DistributedDataParallel, defaults otherwise: 25 MiB buckets,
broadcast_buffers=True):
  full   model = DDP(Classifier(backbone, head)); model.train(); every parameter trains.
  head   requires_grad_(False) on the backbone, model.train() then backbone.eval() (BatchNorm keeps
         its running statistics, dropout is off), DDP over the whole model: DDP all-reduces only
         the parameters that require grad, i.e. the head. Autograd records nothing for the
         frozen backbone (no parameter or input of it requires grad), as Frost's NoGradGuard.
  Both: torch.optim.SGD (lr constant, no momentum, no weight decay), cross-entropy loss, one
  optimizer step per micro-batch; DDP also at world size 1, as a user's script would run.
Same job as Frost: the models are module-for-module those of src/frost/models (ResNet-18 layout
with torchvision's BasicBlock, base width w, 3x3 stride-1 stem without max-pool; a BERT encoder
with Hugging Face BertModel names, erf GELU, additive finfo.min mask, [CLS] + BertPooler or mean
pooling), the state_dict names are Frost's ("backbone.*", "head.*"), so `make-init` writes one
initial-weights file that Frost loads with model.init and this script with load_state_dict.
Data: the same HDF5 file read with h5py (a torch Dataset returning whole batches through a
DataLoader with num_workers=0); images as Frost's loader, float32 (x / 255 - mean[c]) / std[c];
token batches cut to 1 + the last column any row's attention mask uses (Frost's dynamic
padding). Sample order: Frost's TrainSampler with data.shuffle = false (identity order; global
batch k = rows [k*W*B, (k+1)*W*B), rank r takes the r-th contiguous piece of B rows), so both
frameworks see the same samples at every step on every rank.

What is timed: each optimizer step on rank 0, from asking the DataLoader for the batch to the
return of optimizer.step() (zero_grad, forward, loss.item(), backward with DDP's all-reduce,
step), as Frost's step_ms. The first --warmup steps are not counted; samples/s = world size x
batch size x steps / (sum of the timed step times).

Output: rank 0 writes one JSON object (one line) to --out and stdout:
  {"framework": "pytorch-ddp", "model", "strategy", "world_size", "threads", "batch_size",
   "warmup", "steps", "samples_per_s", "step_ms": [timed steps], "loss": [rank 0's micro-batch
   loss of every step, warm-up included], "data_ms", "forward_ms", "backward_ms",
   "optimizer_ms" (means over the timed steps), "allreduce_bytes_per_step" (payload of the
   trainable gradients DDP reduces per step; 0 on one rank), "broadcast_bytes_per_step" (the
   buffers DDP re-broadcasts before every forward), "vmhwm_kb": [peak resident set of every
   rank, /proc/self/status VmHWM], "torch_version"}

`make-init` (one process) writes the initial weights both frameworks start from:
    python3 bench/peers/ddp_peer.py make-init --model resnet --width 32 --in-channels 1 \\
        --num-classes 5 --seed 0 --out init.pt
    python3 bench/peers/ddp_peer.py make-init --model bert --hf-config config.json \\
        --weights model.safetensors --num-classes 2 --seed 0 --out init.pt
A torch.save'd {name: tensor} dict (Frost's model.pt layout); BERT encoder tensors come from the
safetensors file (read by a small reader here: 8-byte little-endian header length, JSON header,
raw data), ResNet tensors and the head from torch.manual_seed(seed).

Importing this file needs torch only (numpy and h5py are imported inside the data reader and the
safetensors reader): bench/peers/ddp_gpu_peer.py takes its BERT modules and Classifier from here
(with attention="sdpa") and bench/efficiency.py its models, so each module is written once.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------- models
def torchvision_init(module):
    """torchvision's ResNet initialisation: kaiming_normal_(fan_out, relu) for convolutions,
    BatchNorm weight 1 and bias 0 (zero_init_residual=False), in module order."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (torchvision.models.resnet), written out so that only torch is
    needed: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus identity or downsample, then ReLU."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Backbone(nn.Module):
    """Frost's resnet18 backbone with model.small_input = true: 3x3/1 stem, no max-pool, stages of
    width w, 2w, 4w, 8w, global average pool -> [B, 8w]."""

    def __init__(self, width, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        inplanes = width
        for stage in range(4):
            planes, stride = width << stage, 1 if stage == 0 else 2
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            setattr(self, f"layer{stage + 1}", nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                                             BasicBlock(planes, planes)))
            inplanes = planes
        self.feature_dim = inplanes
        torchvision_init(self)

    def forward(self, x, attention_mask=None):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids):
        positions = torch.arange(ids.size(1), dtype=torch.long, device=ids.device)
        x = self.word_embeddings(ids) + self.token_type_embeddings.weight[0]  # token type 0 everywhere
        x = x + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Hugging Face BertSelfAttention ("eager"): softmax(q k^T / sqrt(d) + mask) v written out; the
    attention of the CPU peer, whose losses bench/scaling.py checks against Frost's step by step."""

    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads, self.head_dim = c["num_attention_heads"], h // c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def split(self, x):
        return x.view(x.size(0), x.size(1), self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, additive_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + additive_mask
        probs = self.dropout(torch.softmax(scores, -1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), self.heads * self.head_dim)


class BertSdpaSelfAttention(nn.Module):
    """Hugging Face BertSdpaSelfAttention ("sdpa"): the same q/k/v projections (same state_dict
    names), then F.scaled_dot_product_attention with the additive mask in the query's dtype (the
    GPU peer's attention, bench/peers/ddp_gpu_peer.py)."""

    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.p = c["attention_probs_dropout_prob"]

    def forward(self, x, additive_mask):
        b, l, h = x.shape
        split = lambda t: t.view(b, l, self.heads, h // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=additive_mask.to(q.dtype),
                                             dropout_p=self.p if self.training else 0.0)
        return ctx.transpose(1, 2).reshape(b, l, h)


# The self-attention implementations by Hugging Face's attn_implementation name.
SELF_ATTENTION = {"eager": BertSelfAttention, "sdpa": BertSdpaSelfAttention}


class BertResidualOutput(nn.Module):
    """HF BertSelfOutput / BertOutput: LayerNorm(dropout(dense(x)) + residual)."""

    def __init__(self, c, in_features):
        super().__init__()
        self.dense = nn.Linear(in_features, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c, attention="eager"):
        super().__init__()
        self.self = SELF_ATTENTION[attention](c)
        self.output = BertResidualOutput(c, c["hidden_size"])

    def forward(self, x, additive_mask):
        return self.output(self.self(x, additive_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # the exact erf form (hidden_act "gelu")


class BertLayer(nn.Module):
    def __init__(self, c, attention="eager"):
        super().__init__()
        self.attention = BertAttention(c, attention)
        self.intermediate = BertIntermediate(c)
        self.output = BertResidualOutput(c, c["intermediate_size"])

    def forward(self, x, additive_mask):
        attended = self.attention(x, additive_mask)
        return self.output(self.intermediate(attended), attended)


class BertEncoder(nn.Module):
    def __init__(self, c, attention="eager"):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c, attention) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, additive_mask):
        for layer in self.layer:
            x = layer(x, additive_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, hidden):
        return torch.tanh(self.dense(hidden[:, 0]))


class BertBackbone(nn.Module):
    """Hugging Face BertModel (names, structure, numerics) + Frost's pooling: 'cls' = BertPooler
    on [CLS], 'mean' = mean of the last hidden state over the attention mask. attention: a key of
    SELF_ATTENTION ("eager" here, "sdpa" in the GPU peer); the state_dict names do not depend on it."""

    def __init__(self, c, pooling="cls", attention="eager"):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c, attention)
        self.pooler = BertPooler(c)
        self.pooling = pooling
        self.feature_dim = c["hidden_size"]
        for m in self.modules():  # HF _init_weights
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, c["initializer_range"])
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, 0.0, c["initializer_range"])
                if m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, ids, attention_mask):
        hidden = self.embeddings(ids)
        additive = (1.0 - attention_mask.to(hidden.dtype)[:, None, None, :]) * torch.finfo(hidden.dtype).min
        hidden = self.encoder(hidden, additive)
        if self.pooling == "cls":
            return self.pooler(hidden)
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


class Classifier(nn.Module):
    """backbone + linear head; state_dict names backbone.* and head.* as Frost's Classifier."""

    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.feature_dim, num_classes)

    def forward(self, x, attention_mask=None):
        return self.head(self.backbone(x, attention_mask))


def build_model(args, num_classes):
    if args.model == "resnet":
        return Classifier(ResNet18Backbone(args.width, args.in_channels), num_classes)
    with open(args.hf_config) as f:
        config = json.load(f)
    return Classifier(BertBackbone(config, args.pooling), num_classes)


def read_safetensors(path):
    """{name: tensor} of a safetensors file: u64 LE header size N, N bytes of JSON, data."""
    import numpy as np

    dtypes = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def make_init(args):
    torch.manual_seed(args.seed)
    model = build_model(args, args.num_classes)
    if args.model == "bert":
        tensors = read_safetensors(args.weights)
        own = model.backbone.state_dict()
        missing = [k for k in own if k not in tensors]
        unused = [k for k in tensors if k not in own and k != "embeddings.position_ids"]
        if missing or unused:
            sys.exit(f"make-init: {args.weights} does not fit the encoder: missing {missing[:5]}, unused {unused[:5]}")
        model.backbone.load_state_dict({k: tensors[k] for k in own}, strict=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, args.out)
    print(f"make-init: {len(state)} tensors -> {args.out}")


# ------------------------------------------------------------------------------------ data
class H5Batches(torch.utils.data.Dataset):
    """Item i = one whole batch: the list of sample indices the sampler gives, read from the
    HDF5 file with h5py (one slice when the rows are consecutive) and converted as Frost's loader
    does. Opened lazily, so the object can be handed to DataLoader workers."""

    def __init__(self, path):
        import h5py  # python3-h5py
        import numpy as np

        self.path, self.file = path, None
        with h5py.File(path, "r") as f:
            self.n = f["labels"].shape[0]
            self.kind = f.attrs["input_kind"]
            self.kind = self.kind.decode() if isinstance(self.kind, bytes) else str(self.kind)
            self.num_classes = int(f.attrs["num_classes"])
            self.has_mask = "attention_mask" in f
            if self.kind == "image":
                c = f["inputs"].shape[1]
                self.mean = torch.tensor(np.asarray(f.attrs["mean"], np.float64)).float().view(1, c, 1, 1)
                self.std = torch.tensor(np.asarray(f.attrs["std"], np.float64)).float().view(1, c, 1, 1)

    def rows(self, name, idx):
        import numpy as np

        ds = self.file[name]
        if idx == list(range(idx[0], idx[0] + len(idx))):
            return ds[idx[0]:idx[0] + len(idx)]
        order = np.argsort(idx)
        data = ds[np.asarray(idx)[order].tolist()]
        return data[np.argsort(order)]

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        import h5py
        import numpy as np

        if self.file is None:
            self.file = h5py.File(self.path, "r")
        labels = torch.from_numpy(self.rows("labels", idx).astype(np.int64))
        raw = torch.from_numpy(self.rows("inputs", idx))
        mask = None
        if self.kind == "image":
            x = raw.to(torch.float32).div_(255.0).sub_(self.mean).div_(self.std)
        elif self.kind == "tokens":
            x = raw
            if self.has_mask:
                mask = torch.from_numpy(self.rows("attention_mask", idx))
                used = mask.any(0).nonzero()
                width = int(used[-1]) + 1 if len(used) else 1  # dynamic padding, as Frost's loader
                x, mask = x[:, :width], mask[:, :width].contiguous()
            x = x.to(torch.int64).contiguous()
        else:
            x = raw
        return x, mask, labels


def frost_batches(n, world, rank, batch, steps):
    """Rank `rank`'s first `steps` batches under Frost's TrainSampler with shuffle = false and
    drop_last = true (identity order, M = W*floor(N/W) samples per epoch, global batch k =
    [k*G, (k+1)*G), G = W*B, rank r takes the r-th piece of B), repeating epochs as needed."""
    used = (n // world) * world
    per_epoch = used // (world * batch)
    assert per_epoch >= 1, f"{n} samples are too few for {world} ranks x batch {batch}"
    out = []
    for k in range(steps):
        start = (k % per_epoch) * world * batch + rank * batch
        out.append(list(range(start, start + batch)))
    return out


# ---------------------------------------------------------------------------------- train
def train(args):
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("RANK", "0")))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=world)

    dataset = H5Batches(args.data)
    model = build_model(args, dataset.num_classes)
    model.load_state_dict(torch.load(args.init), strict=True)
    if args.strategy == "head":
        model.backbone.requires_grad_(False)
    model.train()
    if args.strategy == "head":
        model.backbone.eval()
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr)

    total = args.warmup + args.steps
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=args.workers,
                                         sampler=frost_batches(len(dataset), world, rank, args.batch_size, total))
    it = iter(loader)
    losses, step_ms, parts = [], [], {"data_ms": [], "forward_ms": [], "backward_ms": [], "optimizer_ms": []}
    for step in range(total):
        t0 = time.perf_counter()
        x, mask, y = next(it)
        t1 = time.perf_counter()
        optimizer.zero_grad()
        loss = F.cross_entropy(ddp(x, mask), y)
        losses.append(loss.item())
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if step >= args.warmup:
            step_ms.append((t4 - t0) * 1e3)
            for key, (a, b) in zip(parts, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
                parts[key].append((b - a) * 1e3)

    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    hwms = [None] * world
    dist.all_gather_object(hwms, hwm)
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    if rank == 0:
        result = {
            "framework": "pytorch-ddp", "model": args.model, "strategy": args.strategy, "world_size": world,
            "threads": args.threads, "batch_size": args.batch_size, "warmup": args.warmup, "steps": args.steps,
            "samples_per_s": world * args.batch_size * len(step_ms) / (sum(step_ms) / 1e3),
            "step_ms": step_ms, "loss": losses, **{k: sum(v) / len(v) for k, v in parts.items()},
            "allreduce_bytes_per_step": trainable if world > 1 else 0,
            "broadcast_bytes_per_step": buffers if world > 1 else 0,
            "vmhwm_kb": hwms, "torch_version": torch.__version__,
        }
        line = json.dumps(result)
        if args.out:
            with open(args.out, "w") as f:
                f.write(line + "\n")
        print(line, flush=True)
    dist.barrier()
    # Leave without tearing down DDP and the gloo process group: in torch 1.13 that teardown could
    # deadlock at interpreter exit (the Reducer destroys ProcessGroupGloo while holding the GIL,
    # and a gloo worker thread waits for the GIL to free a tensor), leaving a rank spinning.
    sys.stdout.flush()
    os._exit(0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("train", "make-init"):
        s = sub.add_parser(name)
        s.add_argument("--model", choices=("resnet", "bert"), required=True)
        s.add_argument("--width", type=int, default=32, help="resnet: base width (model.width)")
        s.add_argument("--in-channels", type=int, default=1, help="resnet: image channels")
        s.add_argument("--hf-config", help="bert: Hugging Face config.json (model.hf_config)")
        s.add_argument("--pooling", choices=("cls", "mean"), default="cls", help="bert: model.pooling")
        s.add_argument("--seed", type=int, default=0)
    mi = sub.choices["make-init"]
    mi.add_argument("--num-classes", type=int, required=True)
    mi.add_argument("--weights", help="bert: encoder weights (.safetensors, BertModel names)")
    mi.add_argument("--out", required=True)
    tr = sub.choices["train"]
    tr.add_argument("--strategy", choices=("full", "head"), required=True)
    tr.add_argument("--data", required=True, help="training HDF5 file (Frost schema)")
    tr.add_argument("--init", required=True, help="initial weights from make-init")
    tr.add_argument("--batch-size", type=int, required=True, help="per-rank micro-batch")
    tr.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    tr.add_argument("--steps", type=int, default=20, help="timed steps")
    tr.add_argument("--lr", type=float, required=True)
    tr.add_argument("--threads", type=int, default=1, help="torch.set_num_threads per rank")
    tr.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    tr.add_argument("--port", type=int, default=29511, help="TCP port of the gloo rendezvous on 127.0.0.1")
    tr.add_argument("--out", help="write rank 0's JSON line here too")
    args = p.parse_args()
    make_init(args) if args.command == "make-init" else train(args)


if __name__ == "__main__":
    main()
