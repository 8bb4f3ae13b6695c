#!/usr/bin/env python3
"""Generate tests/fixtures/activations.safetensors: every activation of SPEC 1 implemented so far, from the
PyTorch modules in tools/torch_activations.py (written from SPEC.md), as an independent reference.

Re-run from the repository root with:   python3 tools/make_activation_fixtures.py
Deterministic (fixed seed, one thread, float32 on CPU). For each spec string S in SPECS:
  S.x      input [3, 4, 5, 6] ~ N(0, 2²), moved at least 0.05 away from every kink of SPEC 1.1
           (−3, 0, 0.6590 where x = σ(x), 3, 6), and for PWLU 0.02 from its breakpoints, so one-sided
           derivatives cannot differ;
  S.<p>    every parameter, moved off its initial value (β ~ U(0.5, 2), p ~ N(0.25, 0.5),
           p1, p2 ~ N(0, 1), PReLU weight ~ U(0, 0.5), anything else + N(0, 0.5²)) so a wrong formula
           cannot hide behind it; modules in training mode (Meta-ACON's BNs use batch statistics);
  S.dy     a random upstream gradient; S.y the output; S.dx and S.d<p> autograd's gradients of Σ y·dy.
"""

import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_activations  # noqa: E402

SPECS = [
    "relu", "relu6", "leaky-relu", "leaky-relu(slope=0.2)", "silu", "gelu", "elu", "elu(alpha=0.5)", "selu",
    "softplus", "mish", "hard-swish", "max-sigmoid", "cos-minus", "min-sin", "atan-sq-minus", "max-tanh",
    "sinc-plus", "x-asinh-sq", "prelu", "swish", "acon-a", "acon-b", "acon-c",
    "meta-acon(r=2)", "meta-acon(r=2,bn=false)", "meta-acon(space=layer)", "meta-acon(space=pixel)",
    "dyrelu-a", "dyrelu-b", "dyrelu-c", "dyrelu-b(k=3,r=2)", "dyrelu-c(tau=2)",
    "pwlu(stat_epochs=0)", "pwlu(n=8,mode=layer,stat_epochs=0)",
]
KINKS = [-3.0, 0.0, 0.6590460684, 3.0, 6.0]


def away_from_kinks(x):
    for k in KINKS:
        x = torch.where((x - k).abs() < 0.05, x + 0.1, x)
    return x


def main():
    torch.manual_seed(20261126)
    torch.set_num_threads(1)
    out = {}
    channels = 4
    for spec in SPECS:
        module = torch_activations.make(spec, channels)
        with torch.no_grad():
            for name, p in module.named_parameters():
                if name == "beta":
                    p.copy_(torch.rand_like(p) * 1.5 + 0.5)
                elif name == "p":
                    p.copy_(torch.randn_like(p) * 0.5 + 0.25)
                elif name in ("p1", "p2"):
                    p.copy_(torch.randn_like(p))
                elif name == "weight":
                    p.copy_(torch.rand_like(p) * 0.5)
                else:  # generator weights, biases and BN parameters
                    p.add_(torch.randn_like(p) * 0.5)
        x = away_from_kinks(torch.randn(3, channels, 5, 6) * 2.0)
        if isinstance(module, torch_activations.PWLU):  # away from the (moved) breakpoints too
            with torch.no_grad():
                rows = module.bound_left.numel()
                for r in range(rows):
                    bl, br = module.bound_left[r].item(), module.bound_right[r].item()
                    for j in range(module.n + 1):
                        b = bl + j * (br - bl) / module.n
                        sel = x if rows == 1 else x[:, r]
                        sel[(sel - b).abs() < 0.02] += 0.05
        x = x.requires_grad_(True)
        y = module(x)
        dy = torch.randn_like(y)
        (y * dy).sum().backward()
        out[f"{spec}.x"] = x.detach().clone()
        out[f"{spec}.y"] = y.detach().clone()
        out[f"{spec}.dy"] = dy
        out[f"{spec}.dx"] = x.grad.clone()
        for name, p in module.named_parameters():
            out[f"{spec}.{name}"] = p.detach().clone()
            out[f"{spec}.d{name}"] = p.grad.clone()
    path = os.path.join("tests", "fixtures", "activations.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path)
    print(f"wrote {path}: {len(SPECS)} activations, {len(out)} tensors")


if __name__ == "__main__":
    main()
