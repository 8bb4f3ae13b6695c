#!/usr/bin/env python3
"""Generate tests/fixtures/resnet20_acts.safetensors: ResNet-20 with each parametric activation of SPEC 1 at
every position, built from PyTorch modules written from SPEC.md (tools/torch_models.py,
tools/torch_activations.py), as an independent reference for actlab's eval loss and one SGD step (SPEC 8).

Re-run from the repository root, after tools/make_fixtures.py (it reuses that script's backbone weights and
tiny Fashion-MNIST files):   python3 tools/make_model_act_fixtures.py
Deterministic (seed, one thread, float32 on CPU). For each spec A in ACTS, keys prefixed "A/":
  A/init.<name>     every activation parameter and buffer (names as in the state_dict), moved off its
                    initial value (β ~ U(0.5, 2), p ~ N(0.25, 0.5²), p1, p2 ~ N(0, 1), PReLU weight ~
                    U(0, 0.5), anything else + N(0, 0.3²); BN running_var of generators ~ U(0.5, 1.5)).
                    The backbone is tests/fixtures/resnet20_init.safetensors, unchanged.
  A/eval.loss       mean cross-entropy of the first 48 test images in eval mode (actlab eval --limit 48).
  A/train.loss      loss of one SGD step (lr 0.1, momentum 0, wd 0, first 16 training images in file
                    order, train mode): actlab train --init-from <backbone + A/init> --batch 16 --lr 0.1
                    --momentum 0 --wd 0 --schedule none --no-shuffle --no-augment --max-steps 1.
  A/delta.<name>    after − before for every float state_dict entry, stored as float16 (SPEC 8 compares
                    within 1% of the change; float16 keeps 0.05%).
  A/spread.<name>   shape []: the L2 norm of the elementwise max over three jittered repeats (inputs +
                    N(0, 1e-6²), seeds 101-103) of |delta_jittered − delta|: PyTorch's own spread.
"""

import copy
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_activations  # noqa: E402
from make_fixtures import BATCH, DATA_DIR, FIXTURES, JITTER_SEEDS, LR, N_TEST, normalise, read_idx_gz  # noqa: E402
from torch_models import resnet20  # noqa: E402

ACTS = ["prelu", "swish", "acon-a", "acon-b", "acon-c", "meta-acon", "dyrelu-a", "dyrelu-b", "dyrelu-c",
        "pwlu(stat_epochs=0)"]


def perturb(model, backbone):
    """Moves every activation tensor (those not in the backbone) off its initial value."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name in backbone or not t.is_floating_point():
                continue
            leaf = name.rsplit(".", 1)[1]
            if leaf == "beta":
                t.copy_(torch.rand_like(t) * 1.5 + 0.5)
            elif leaf == "p":
                t.copy_(torch.randn_like(t) * 0.5 + 0.25)
            elif leaf in ("p1", "p2"):
                t.copy_(torch.randn_like(t))
            elif name.endswith(("act1.weight", "act2.weight")):
                t.copy_(torch.rand_like(t) * 0.5)  # PReLU
            elif leaf in ("running_var", "running_std"):
                t.copy_(torch.rand_like(t) + 0.5)
            else:
                t.add_(torch.randn_like(t) * 0.3)


def sgd_step(model, x, y):
    model = copy.deepcopy(model).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.0, weight_decay=0.0)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.detach(), {k: v.detach().clone() for k, v in model.state_dict().items()}


def main():
    torch.manual_seed(20261126)
    torch.set_num_threads(1)
    backbone = load_file(os.path.join(FIXTURES, "resnet20_init.safetensors"))
    train_x = read_idx_gz(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    train_y = read_idx_gz(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz")).to(torch.int64)
    test_x = read_idx_gz(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"))
    test_y = read_idx_gz(os.path.join(DATA_DIR, "t10k-labels-idx1-ubyte.gz")).to(torch.int64)
    x, y = normalise(train_x[:BATCH]), train_y[:BATCH]
    out = {}
    for spec in ACTS:
        model = resnet20(in_channels=1, classes=10, act=lambda c, s=spec: torch_activations.make(s, c))
        _, unexpected = model.load_state_dict(backbone, strict=False)
        assert not unexpected, unexpected
        # (load_state_dict does not report BN's num_batches_tracked as missing: compare names instead)
        missing = [name for name in model.state_dict() if name not in backbone]
        perturb(model, backbone)
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for name in missing:
            out[f"{spec}/init.{name}"] = before[name]
        with torch.no_grad():
            logits = copy.deepcopy(model).eval()(normalise(test_x[:N_TEST]))
            out[f"{spec}/eval.loss"] = F.cross_entropy(logits, test_y[:N_TEST])
        loss, after = sgd_step(model, x, y)
        out[f"{spec}/train.loss"] = loss
        delta = {k: v - before[k] for k, v in after.items() if v.is_floating_point()}
        spread = {k: torch.zeros_like(v) for k, v in delta.items()}
        for seed in JITTER_SEEDS:
            gen = torch.Generator().manual_seed(seed)
            _, after_j = sgd_step(model, x + 1e-6 * torch.randn(x.shape, generator=gen), y)
            for k in delta:
                spread[k] = torch.maximum(spread[k], ((after_j[k] - before[k]) - delta[k]).abs())
        for k in delta:
            out[f"{spec}/delta.{k}"] = delta[k].to(torch.float16)
            out[f"{spec}/spread.{k}"] = spread[k].norm()
        print(f"{spec}: {len(missing)} activation tensors, eval loss {out[f'{spec}/eval.loss'].item():.4f}")
    path = os.path.join(FIXTURES, "resnet20_acts.safetensors")
    save_file({k: v.detach().contiguous().clone() for k, v in out.items()}, path)
    print(f"wrote {path}: {len(out)} tensors")


if __name__ == "__main__":
    main()
