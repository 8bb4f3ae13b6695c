#!/usr/bin/env python3
"""Convert a torchvision (or any PyTorch) state_dict saved with torch.save to safetensors for actlab's
--init-from (SPEC 3: the names are the state_dict's own, so nothing is renamed).

    python3 tools/torchvision_to_safetensors.py resnet18-f37072fd.pth resnet18.safetensors
    actlab train --model resnet18 --init-from resnet18.safetensors --init-skip-head --data imagefolder:DIR ...

Accepts a bare state_dict or a checkpoint dict holding one under "state_dict" or "model"; strips the
"module." prefix that nn.DataParallel adds; stores float tensors as float32 (half and bfloat16 are widened)
and integer ones (num_batches_tracked) as int64. torchvision's ResNet-18 and MobileNetV2 names are exactly
actlab's resnet18 and mobilenetv2 names (SPEC 2.2, 2.3).
"""

import argparse
import sys

import torch
from safetensors.torch import save_file


def state_dict_of(obj, path):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    sys.exit(f"{path}: expected a state_dict (a dict of tensors), or a checkpoint holding one under "
             f"'state_dict' or 'model'; found {type(obj).__name__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="a .pth/.pt file written by torch.save")
    parser.add_argument("output", help="the .safetensors file to write")
    args = parser.parse_args()
    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets one clear line
        sys.exit(f"{args.input}: not a readable PyTorch file ({e})")
    tensors = {}
    for name, t in state_dict_of(obj, args.input).items():
        if not isinstance(t, torch.Tensor):
            sys.exit(f"{args.input}: entry {name} is a {type(t).__name__}, not a tensor")
        name = name[len("module."):] if name.startswith("module.") else name
        t = t.detach().to("cpu")
        t = t.to(torch.float32) if t.is_floating_point() else t.to(torch.int64)
        tensors[name] = t.contiguous()
    save_file(tensors, args.output)
    print(f"wrote {args.output}: {len(tensors)} tensors, "
          f"{sum(t.numel() for t in tensors.values() if t.is_floating_point())} float values")


if __name__ == "__main__":
    main()
