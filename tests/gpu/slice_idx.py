#!/usr/bin/env python3
"""Writes the first N training and M test images (and labels) of an IDX dataset (Fashion-MNIST
layout: train-*-idx?-ubyte.gz, t10k-*) as gzip IDX files, for the GPU check kit's small data.

usage: slice_idx.py SRC_DIR OUT_DIR N_TRAIN N_TEST      (Python standard library only)
"""
import gzip
import os
import struct
import sys


def slice_file(src, dst, n):
    with gzip.open(src, "rb") as f:
        magic = f.read(4)
        ndim = magic[3]
        dims = list(struct.unpack(">" + "I" * ndim, f.read(4 * ndim)))
        if n > dims[0]:
            sys.exit(f"slice_idx.py: {src} has {dims[0]} rows, {n} asked for")
        row = 1
        for d in dims[1:]:
            row *= d
        body = f.read(n * row)
    dims[0] = n
    with open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(magic + struct.pack(">" + "I" * ndim, *dims) + body)


def main():
    if len(sys.argv) != 5 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    src, out, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(out, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            path = os.path.join(src, name)
            if not os.path.exists(path):
                sys.exit(f"slice_idx.py: {path} not found")
            slice_file(path, os.path.join(out, name), n)


if __name__ == "__main__":
    main()
