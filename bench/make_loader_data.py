#!/usr/bin/python3
"""Writes the data files of the loader benchmark (docs/benchmarks.md, "Loader efficiency").

usage:
  make_loader_data.py synth OUT.h5 --n N --shape C,H,W [--gzip LEVEL] [--chunk-rows R] [--seed S]
  make_loader_data.py gzip IN.h5 OUT.h5 [--level LEVEL]

synth: N uint8 images [C, H, W] in the Frost schema (docs/data.md), 10 classes. Each image is a
  smooth random pattern (two sine waves per channel) plus noise of +-8 levels, so gzip finds
  some, but not much, redundancy, as in natural images. /inputs is chunked along axis 0
  (R rows per chunk, default 1024), gzip-compressed when --gzip is given.
gzip: a copy of a Frost file whose /inputs (and /attention_mask) are gzip-compressed with the
  same chunk shape; everything else, attributes included, is copied as it is.
"""
import argparse

import h5py
import numpy as np


def synth(a):
    c, h, w = (int(v) for v in a.shape.split(","))
    rng = np.random.default_rng(a.seed)
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                         indexing="ij")
    labels = rng.integers(0, 10, a.n).astype(np.int64)
    with h5py.File(a.out, "w") as f:
        kw = {"compression": "gzip", "compression_opts": a.gzip} if a.gzip is not None else {}
        x = f.create_dataset("inputs", (a.n, c, h, w), dtype=np.uint8,
                             chunks=(min(a.chunk_rows, a.n), c, h, w), **kw)
        block = 4096
        for start in range(0, a.n, block):
            n = min(block, a.n - start)
            fy, fx, ph = (rng.uniform(0.05, 0.5, (n, c, 1, 1)).astype(np.float32) for _ in range(3))
            ph = ph * 12.0
            img = 128 + 50 * np.sin(fy * yy + ph) + 40 * np.cos(fx * xx + ph * 0.5)
            img += rng.integers(-8, 9, (n, c, h, w))
            x[start:start + n] = np.clip(img, 0, 255).astype(np.uint8)
        f.create_dataset("labels", data=labels, chunks=(min(a.chunk_rows, a.n),))
        f.attrs["frost_schema"] = np.int64(1)
        f.attrs["task"] = "classification"
        f.attrs["num_classes"] = np.int64(10)
        f.attrs["input_kind"] = "image"
        f.attrs["mean"] = np.full(c, 0.5)
        f.attrs["std"] = np.full(c, 0.25)


def gzip_copy(a):
    with h5py.File(a.src, "r") as src, h5py.File(a.out, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for name, d in src.items():
            kw = {}
            if name in ("inputs", "attention_mask"):
                kw = {"compression": "gzip", "compression_opts": a.level}
            dst.create_dataset(name, data=d[...], chunks=d.chunks, **kw)


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
s = sub.add_parser("synth")
s.add_argument("out")
s.add_argument("--n", type=int, required=True)
s.add_argument("--shape", default="3,32,32")
s.add_argument("--gzip", type=int)
s.add_argument("--chunk-rows", type=int, default=1024)
s.add_argument("--seed", type=int, default=0)
g = sub.add_parser("gzip")
g.add_argument("src")
g.add_argument("out")
g.add_argument("--level", type=int, default=4)
a = p.parse_args()
synth(a) if a.cmd == "synth" else gzip_copy(a)
