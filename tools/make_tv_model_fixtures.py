#!/usr/bin/env python3
"""Generate tests/fixtures/tv_models.safetensors: logits of ResNet-18 and MobileNetV2 (and their CIFAR variants)
laid out like torchvision's (tools/torch_models.py, written from SPEC 2.2-2.3 and torchvision's layout), as an
independent reference for actlab's models.

Re-run from the repository root:   python3 tools/make_tv_model_fixtures.py
Deterministic (one thread, float32 on CPU).

The models hold 2-12 M parameters, too many to commit, so every float state_dict entry is filled from a formula
that actlab's test (tests/test_tv_models.cpp) evaluates the same way, bit for bit, from the entry's name:
  h = FNV-1a 64 of the name; for element i: z = splitmix64 finaliser of (h + (i+1)·0x9E3779B97F4A7C15);
  u = (z >> 40) / 2^24 in [0, 1), then by the name's last part:
  running_var 0.5+u; running_mean, bias 0.2(2u−1); beta 0.5+1.5u; p1 0.5+u; p2 u−0.5;
  other tensors of ≥ 2 dims (conv and linear weights) (2u−1)·sqrt(6/fan_in); anything else (BN weight) 0.5+u.
A misnamed or misshapen tensor thus gets other values and other logits. num_batches_tracked stays 0.

Keys, for each MODEL in MODELS and each ACT in ("default", "acon-c") as "MODEL/ACT/...":
  x          the input, N(0, 1), [2, 3, 64, 64] (CIFAR variants: [2, 3, 32, 32]); shared by both ACTs
  eval       logits in eval mode (running statistics)
  train      logits in training mode (batch statistics; MobileNetV2 built with dropout=0)
and metadata "MODEL/ACT/names": the state_dict's names and shapes, "name:d0xd1x..." joined by ",".
"""

import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_activations  # noqa: E402
import torch_models  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tv_models.safetensors")
MODELS = ["resnet18", "resnet18-cifar", "mobilenetv2", "mobilenetv2-cifar"]
ACTS = {"default": None, "acon-c": lambda channels: torch_activations.make("acon-c", channels)}
M64 = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & M64
    return h


def formula(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        v = 0.5 + u
    elif leaf in ("running_mean", "bias"):
        v = 0.2 * (2.0 * u - 1.0)
    elif leaf == "beta":
        v = 0.5 + 1.5 * u
    elif leaf == "p1":
        v = 0.5 + u
    elif leaf == "p2":
        v = u - 0.5
    elif len(shape) >= 2:
        v = (2.0 * u - 1.0) * np.sqrt(6.0 / (n // shape[0]))
    else:
        v = 0.5 + u
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def build(model, act):
    if model.startswith("mobilenetv2"):
        return torch_models.mobilenetv2(classes=10, dropout=0.0, cifar=model.endswith("-cifar"), act=act)
    return torch_models.resnet18(classes=10, cifar=model.endswith("-cifar"), act=act)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tensors, metadata = {}, {}
    for model_name in MODELS:
        size = 32 if model_name.endswith("-cifar") else 64
        x = torch.randn(2, 3, size, size)
        for act_name, act in ACTS.items():
            model = build(model_name, act)
            state = model.state_dict()
            with torch.no_grad():
                for name, t in state.items():
                    if t.is_floating_point():
                        t.copy_(formula(name, tuple(t.shape)))
            key = f"{model_name}/{act_name}"
            if act_name == "default":
                tensors[f"{model_name}/x"] = x.clone()
            with torch.no_grad():
                model.eval()
                tensors[f"{key}/eval"] = model(x).contiguous()
                model.train()
                tensors[f"{key}/train"] = model(x).contiguous()
            metadata[f"{key}/names"] = ",".join(f"{n}:{'x'.join(map(str, t.shape))}" for n, t in state.items())
            print(key, "logits", tensors[f"{key}/eval"][0, :4].tolist())
    save_file(tensors, OUT, metadata=metadata)
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
