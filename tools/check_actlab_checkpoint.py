#!/usr/bin/env python3
"""Check that a safetensors checkpoint written by actlab loads into the PyTorch ResNet of SPEC 2.1.

Usage: python3 tools/check_actlab_checkpoint.py PATH
Builds tools/torch_models.CifarResNet (ReLU) with in_channels, classes and depth taken from the file
(conv1.weight [16, in, 3, 3], fc.weight [classes, 64], the number of blocks in layer1), compares every
name, shape and dtype with its state_dict, then loads with load_state_dict(strict=True). Prints
"OK <n> tensors" and exits 0, or prints each mismatch and exits 1 (2 for an unreadable file).
"""

import os
import re
import sys

from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import RESNET_CIFAR_BLOCKS, CifarResNet  # noqa: E402


def main(argv):
    if len(argv) != 2:
        print("usage: check_actlab_checkpoint.py PATH", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        tensors = load_file(path)
        with safe_open(path, "pt") as f:
            metadata = f.metadata() or {}
    except Exception as e:  # unreadable or malformed file
        print(f"{path}: cannot read as safetensors: {e}", file=sys.stderr)
        return 2

    for name in ("conv1.weight", "fc.weight"):
        if name not in tensors:
            print(f"{path}: no tensor '{name}', so this is not a ResNet-20-family checkpoint", file=sys.stderr)
            return 1
    in_channels = tensors["conv1.weight"].shape[1]
    classes = tensors["fc.weight"].shape[0]
    blocks = {int(m.group(1)) for k in tensors for m in [re.match(r"layer1\.(\d+)\.", k)] if m}
    n = len(blocks)
    depth = {v: k for k, v in RESNET_CIFAR_BLOCKS.items()}.get(n)
    if depth is None:
        print(f"{path}: layer1 has {n} blocks; expected one of {sorted(RESNET_CIFAR_BLOCKS.values())}",
              file=sys.stderr)
        return 1

    model = CifarResNet(depth, in_channels=in_channels, classes=classes)
    expected = model.state_dict()
    problems = []
    for k in sorted(set(expected) - set(tensors)):
        problems.append(f"missing: {k} {list(expected[k].shape)} {expected[k].dtype}")
    for k in sorted(set(tensors) - set(expected)):
        problems.append(f"unexpected: {k} {list(tensors[k].shape)} {tensors[k].dtype}")
    for k in sorted(set(tensors) & set(expected)):
        got, want = tensors[k], expected[k]
        if got.shape != want.shape:
            problems.append(f"shape of {k}: file {list(got.shape)}, PyTorch {list(want.shape)}")
        if got.dtype != want.dtype:
            problems.append(f"dtype of {k}: file {got.dtype}, PyTorch {want.dtype}")
    if problems:
        print(f"{path}: does not match resnet{depth}(in_channels={in_channels}, classes={classes}):",
              file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1

    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        print(f"{path}: load_state_dict(strict=True) failed: {e}", file=sys.stderr)
        return 1
    meta = f" metadata model={metadata.get('model')} act={metadata.get('act')}" if metadata else ""
    print(f"OK {len(tensors)} tensors (resnet{depth}, in_channels={in_channels}, classes={classes}){meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
