#!/usr/bin/python3
"""Writes a small Frost HDF5 dataset (schema in docs/data.md) for the end-to-end tests.

usage: make_data.py OUT.h5 --n N [--kind features|image] [--dim D] [--hw HW] [--classes C] [--seed S]
                    [--chunk-rows R] [--gzip LEVEL]
                    [--task classification|multilabel|regression]
Features: float32 [N, D] = noise + label/2 (learnable); images: uint8 [N, 1, HW, HW]. /inputs is
chunked along axis 0 (R rows per chunk, default 64) and gzip-compressed with --gzip.
Other tasks (features only; K = --classes <= D - 1): multilabel /targets uint8 [N, K] with
target k = x_k > 0.3 x_{k+1}; regression /targets float32 [N, K] = x W, W fixed (seed 1).
"""
import argparse

import h5py
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--n", type=int, required=True)
p.add_argument("--kind", default="features", choices=["features", "image"])
p.add_argument("--dim", type=int, default=8)
p.add_argument("--hw", type=int, default=8)
p.add_argument("--classes", type=int, default=3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--chunk-rows", type=int, default=64)
p.add_argument("--gzip", type=int)
p.add_argument("--task", default="classification", choices=["classification", "multilabel", "regression"])
a = p.parse_args()
if a.task != "classification":
    rng = np.random.default_rng(a.seed)
    x = rng.standard_normal((a.n, a.dim)).astype(np.float32)
    k = a.classes
    if a.task == "multilabel":
        t = (x[:, :k] > 0.3 * x[:, 1:k + 1]).astype(np.uint8)
    else:
        t = (x.astype(np.float64) @ np.random.default_rng(1).standard_normal((a.dim, k))).astype(np.float32)
    with h5py.File(a.out, "w") as f:
        f.create_dataset("inputs", data=x, chunks=(min(a.n, 64), a.dim))
        f.create_dataset("targets", data=t, chunks=(min(a.n, 64), k))
        f.attrs["frost_schema"] = np.int64(1)
        f.attrs["task"] = a.task
        f.attrs["num_classes" if a.task == "multilabel" else "num_targets"] = np.int64(k)
        f.attrs["input_kind"] = "features"
    raise SystemExit(0)
rng = np.random.default_rng(a.seed)
labels = rng.integers(0, a.classes, a.n).astype(np.int64)
gz = {"compression": "gzip", "compression_opts": a.gzip} if a.gzip is not None and a.n else {}
with h5py.File(a.out, "w") as f:
    if a.kind == "features":
        x = (rng.standard_normal((a.n, a.dim)) + labels[:, None] * 0.5).astype(np.float32)
        f.create_dataset("inputs", data=x, chunks=(min(a.n, a.chunk_rows), a.dim) if a.n else None,
                         **gz)
    else:
        x = rng.integers(0, 256, (a.n, 1, a.hw, a.hw)).astype(np.uint8)
        f.create_dataset("inputs", data=x,
                         chunks=(min(a.n, a.chunk_rows), 1, a.hw, a.hw) if a.n else None, **gz)
        f.attrs["mean"] = np.array([0.5])
        f.attrs["std"] = np.array([0.25])
    f.create_dataset("labels", data=labels, chunks=(min(a.n, 64),) if a.n else None)
    f.attrs["frost_schema"] = np.int64(1)
    f.attrs["task"] = "classification"
    f.attrs["num_classes"] = np.int64(a.classes)
    f.attrs["input_kind"] = a.kind
