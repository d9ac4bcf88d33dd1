#!/usr/bin/env python3
"""Checks of the GPU check kit that need PyTorch (the node's python3 with torch 2.11).

  kit_check.py env                       versions as key=value lines (torch, CUDA, NCCL, GPU)
  kit_check.py compare RUN.pt REF.pt INIT.pt TOL
      every tensor of RUN.pt against REF.pt (same names, shapes, dtypes); floating tensors:
      d = ||run - ref|| / ||ref - init|| over all of them (the difference measured against the
      change training made), must be <= TOL; integer tensors must be equal. Exit 0 = pass.
  kit_check.py frozen RUN.pt INIT.pt PREFIX
      every tensor named PREFIX* is bitwise equal in RUN.pt and INIT.pt (a frozen backbone).
  kit_check.py metrics METRICS.jsonl [--gpu]
      train losses finite, the mean of the last quarter below the mean of the first quarter;
      prints steps, first/last loss and the last eval accuracy. --gpu (a run on a CUDA device):
      also every train record is timed by CUDA events (timing "cuda_events", forward_ms,
      backward_ms and h2d_ms > 0: Note [Step timing on a GPU] in src/frost/train/device_stats.h)
      and every epoch record has gpu_mem_peak_mib > 0; prints their means.
"""
import json
import math
import sys


def load(path):
    import torch
    # Frost writes model.pt with LibTorch's pickle_save (a {name: tensor} dict), whose pickle
    # names torch.jit._pickle.restore_type_tag: allowed here, everything else stays refused.
    import torch.jit._pickle
    with torch.serialization.safe_globals([torch.jit._pickle.restore_type_tag]):
        sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        sys.exit(f"kit_check.py: {path} is not a {{name: tensor}} dict")
    return sd


def cmd_env():
    import torch
    print(f"torch_version={torch.__version__}")
    print(f"torch_cuda={torch.version.cuda}")
    print(f"torch_git={getattr(torch.version, 'git_version', '?')}")
    print(f"cuda_available={torch.cuda.is_available()}")
    try:
        v = torch.cuda.nccl.version()
        print("nccl_version=" + ".".join(map(str, v)) if isinstance(v, tuple) else f"nccl_version={v}")
    except Exception as e:  # noqa: BLE001 (report, never fail here)
        print(f"nccl_version=? ({type(e).__name__})")
    if torch.cuda.is_available():
        print(f"device_count={torch.cuda.device_count()}")
        print(f"device0={torch.cuda.get_device_name(0)}")
        print("capability0=%d.%d" % torch.cuda.get_device_capability(0))
        print(f"cudnn={torch.backends.cudnn.version()}")


def cmd_compare(run, ref, init, tol):
    import torch
    a, b, c = load(run), load(ref), load(init)
    if set(a) != set(b):
        sys.exit(f"FAIL: names differ: only in {run}: {sorted(set(a) - set(b))[:5]}, "
                 f"only in {ref}: {sorted(set(b) - set(a))[:5]}")
    num = den = 0.0
    worst = ("", 0.0)
    for k in sorted(b):
        x, y = a[k], b[k]
        if x.shape != y.shape or x.dtype != y.dtype:
            sys.exit(f"FAIL: {k}: {tuple(x.shape)} {x.dtype} vs {tuple(y.shape)} {y.dtype}")
        if not y.is_floating_point():
            if not torch.equal(x, y):
                sys.exit(f"FAIL: {k} (integer) differs: {x.flatten()[:4].tolist()} vs {y.flatten()[:4].tolist()}")
            continue
        x, y = x.double(), y.double()
        num += float((x - y).pow(2).sum())
        if k in c:
            den += float((y - c[k].double()).pow(2).sum())
        m = float((x - y).abs().max()) if x.numel() else 0.0
        if m > worst[1]:
            worst = (k, m)
    d = math.sqrt(num) / max(math.sqrt(den), 1e-30)
    ok = math.isfinite(d) and d <= tol
    print(f"{'PASS' if ok else 'FAIL'}: ||run-ref||/||ref-init|| = {d:.3g} (tolerance {tol:g}); "
          f"largest |run-ref| = {worst[1]:.3g} in {worst[0] or '-'}; {len(b)} tensors")
    sys.exit(0 if ok else 1)


def cmd_frozen(run, init, prefix):
    import torch
    a, c = load(run), load(init)
    names = [k for k in c if k.startswith(prefix)]
    if not names:
        sys.exit(f"FAIL: no tensor named {prefix}* in {init}")
    changed = [k for k in names if k not in a or not torch.equal(a[k], c[k])]
    if changed:
        sys.exit(f"FAIL: {len(changed)} of {len(names)} {prefix}* tensors changed, e.g. {changed[:3]}")
    print(f"PASS: {len(names)} {prefix}* tensors bitwise unchanged")


def gpu_timing(rows, path):
    """The --gpu checks of `metrics` on the parsed records; returns a summary or exits FAIL."""
    train = [r for r in rows if r.get("kind") == "train" and not r.get("skipped")]
    epochs = [r for r in rows if r.get("kind") == "epoch"]
    for r in train:
        if r.get("timing") != "cuda_events":
            sys.exit(f"FAIL: step {r.get('step')} of {path} has timing {r.get('timing')!r}, "
                     "expected 'cuda_events' on a GPU")
        for key in ("forward_ms", "backward_ms", "h2d_ms"):
            v = r.get(key)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                sys.exit(f"FAIL: step {r.get('step')} of {path} has {key} = {v!r}, expected > 0")
    if not epochs:
        sys.exit(f"FAIL: no epoch records in {path}")
    for r in epochs:
        v = r.get("gpu_mem_peak_mib")
        if not isinstance(v, (int, float)) or v <= 0:
            sys.exit(f"FAIL: epoch {r.get('epoch')} of {path} has gpu_mem_peak_mib = {v!r}, "
                     "expected > 0 on a GPU")
    mean = lambda key: sum(r[key] for r in train) / len(train)
    return (f"; events: forward {mean('forward_ms'):.2f} ms, backward {mean('backward_ms'):.2f} ms, "
            f"h2d {mean('h2d_ms'):.3f} ms; peak GPU memory "
            f"{max(r['gpu_mem_peak_mib'] for r in epochs):.0f} MiB")


def cmd_metrics(path, gpu=False):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    losses = [float(r["loss"]) for r in rows if r.get("kind") == "train"]
    evals = [r for r in rows if r.get("kind") == "eval"]
    if not losses:
        sys.exit(f"FAIL: no train rows in {path}")
    if not all(math.isfinite(v) for v in losses):
        sys.exit(f"FAIL: non-finite loss in {path}: {losses}")
    q = max(1, len(losses) // 4)
    first, last = sum(losses[:q]) / q, sum(losses[-q:]) / q
    acc = evals[-1].get("eval_accuracy") if evals else None
    msg = (f"{len(losses)} logged steps, loss {first:.4f} -> {last:.4f}"
           + (f", eval accuracy {acc:.4f}" if acc is not None else ""))
    if len(losses) >= 2 and not last < first:
        sys.exit(f"FAIL: loss did not decrease: {msg}")
    if gpu:
        msg += gpu_timing(rows, path)
    print(f"PASS: {msg}")


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if args else 2)
    cmd = args[0]
    if cmd == "env" and len(args) == 1:
        cmd_env()
    elif cmd == "compare" and len(args) == 5:
        cmd_compare(args[1], args[2], args[3], float(args[4]))
    elif cmd == "frozen" and len(args) == 4:
        cmd_frozen(*args[1:])
    elif cmd == "metrics" and len(args) in (2, 3) and args[2:] in ([], ["--gpu"]):
        cmd_metrics(args[1], gpu=args[2:] == ["--gpu"])
    else:
        sys.exit(f"kit_check.py: bad arguments {args} (see --help)")


if __name__ == "__main__":
    main()
