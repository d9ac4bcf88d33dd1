#!/usr/bin/python3
"""Writes a small Frost HDF5 dataset (schema in docs/data.md) for the end-to-end tests.

usage: make_data.py OUT.h5 --n N [--kind features|image] [--dim D] [--hw HW] [--classes C] [--seed S]
                    [--chunk-rows R] [--gzip LEVEL]
Features: float32 [N, D] = noise + label/2 (learnable); images: uint8 [N, 1, HW, HW]. /inputs is
chunked along axis 0 (R rows per chunk, default 64) and gzip-compressed with --gzip.
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
a = p.parse_args()
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
