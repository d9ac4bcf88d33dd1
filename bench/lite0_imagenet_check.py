#!/usr/bin/env python3
"""What the converted EfficientNet-Lite0 ImageNet classifier says about Fashion-MNIST images: a
sanity check of the weights (launch/convert_efficientnet_lite0.py) with its 1000-way head.

    FROST_PYTHON bench/lite0_imagenet_check.py WEIGHTS.safetensors [--per-class N]

For each Fashion-MNIST class, the first N test images (default 20) of the Debian package
dataset-fashion-mnist, inverted to a dark object on white (as product photos are), replicated to
RGB, resized 28 -> 224 (bilinear) and scaled to [-1, 1] as TensorFlow's Lite models expect, go
through timm's tf_efficientnet_lite0 with the weights; prints the mean top-1 probability and the
two most frequent ImageNet classes (timm's ImageNetInfo names) as a markdown table. A mapping
or preprocessing error shows as near-uniform probabilities (1/1000) and unrelated classes.
Needs torch, timm, safetensors, numpy.
"""
import argparse
import collections
import gzip
import os

import numpy as np
import torch

SRC = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"]


def idx(path):
    """An IDX file (gzip) as a uint8 array of its dimensions."""
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights")
    p.add_argument("--per-class", type=int, default=20)
    args = p.parse_args()
    import timm
    from safetensors.torch import load_file
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    m = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    m.load_state_dict(load_file(args.weights), strict=True)
    m.eval()
    x = idx(os.path.join(SRC, "t10k-images-idx3-ubyte.gz"))
    y = idx(os.path.join(SRC, "t10k-labels-idx1-ubyte.gz"))
    n = args.per_class
    print("| Fashion-MNIST class | mean top-1 probability | most frequent ImageNet top-1 classes |")
    print("|:--|--:|:--|")
    for c, name in enumerate(NAMES):
        ids = np.flatnonzero(y == c)[:n]
        t = torch.from_numpy(255 - x[ids].astype(np.float32)).div(255)[:, None].expand(-1, 3, -1, -1)
        t = torch.nn.functional.interpolate(t, size=224, mode="bilinear", align_corners=False)
        with torch.no_grad():
            prob = m((t - 0.5) / 0.5).softmax(-1)
        common = collections.Counter(prob.argmax(-1).tolist()).most_common(2)
        top = ", ".join(f"{info.index_to_description(i).split(',')[0]} ({k}/{len(ids)})" for i, k in common)
        print(f"| {name} | {prob.max(-1).values.mean().item():.2f} | {top} |")


if __name__ == "__main__":
    main()
