#!/usr/bin/python3
"""Checks a Frost export (model.safetensors + model.json, format torchvision) in PyTorch.

Usage: check_export_torchvision.py DIR [DIR ...]

Each DIR holds model.safetensors, model.json and check.safetensors ({"input", "logits"}:
Frost's eval-mode logits on that input), written by the unit test
WeightsExport.* with FROST_EXPORT_DIR set. For each DIR: builds the torchvision ResNet that
model.json describes (torchvision.models.<arch> when the layout is torchvision's own, else the
same ResNet class with Frost's width / in_channels / small-input stem), loads the weights with
load_state_dict(strict=True), and compares its logits with Frost's.

Only json + numpy + torch + torchvision (Debian's python3-torchvision): the safetensors files are
read by the small reader below, not by the `safetensors` package.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        a = np.frombuffer(data[base + begin:base + end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(a.copy())
    return tensors, metadata


def build(spec):
    arch, classes = spec["arch"], spec["num_classes"]
    width, channels, small = spec.get("width", 64), spec.get("in_channels", 3), spec.get("small_input", False)
    if width == 64 and channels == 3 and not small:
        return getattr(torchvision.models, arch)(num_classes=classes), "torchvision.models." + arch
    block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
                     "resnet50": (Bottleneck, [3, 4, 6, 3])}[arch]

    class FrostResNet(ResNet):
        """torchvision's ResNet with base width w (stages w, 2w, 4w, 8w) and Frost's stem."""

        def __init__(self):
            nn.Module.__init__(self)
            self._norm_layer = nn.BatchNorm2d
            self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
            if small:
                self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
                self.maxpool = nn.Identity()
            else:
                self.conv1 = nn.Conv2d(channels, width, 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = self._make_layer(block, width, layers[0])
            self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
            self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
            self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8 * width * block.expansion, classes)

    return FrostResNet(), f"torchvision ResNet({block.__name__}, {layers}) width {width}, " \
                          f"in_channels {channels}, small_input {small}"


def check(directory):
    with open(f"{directory}/model.json") as f:
        spec = json.load(f)
    assert spec["format"] == "torchvision", spec
    weights, metadata = read_safetensors(f"{directory}/model.safetensors")
    assert metadata.get("format") == "pt", metadata
    model, what = build(spec)
    model.load_state_dict(weights, strict=True)  # raises on any missing / unexpected / shape
    model.eval()
    check_tensors, _ = read_safetensors(f"{directory}/check.safetensors")
    with torch.no_grad():
        logits = model(check_tensors["input"])
    expected = check_tensors["logits"]
    diff = (logits - expected).abs().max().item()
    scale = max(1.0, expected.abs().max().item())
    print(f"{directory}: {what}: {len(weights)} tensors, strict load ok, "
          f"max |logits - Frost| = {diff:.3g}")
    if not diff <= 1e-4 * scale:
        print(f"FAIL: logits differ by {diff} (tolerance {1e-4 * scale})", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    ok = all([check(d) for d in sys.argv[1:]])
    sys.exit(0 if ok and len(sys.argv) > 1 else 1)
