#!/usr/bin/env python3
"""Train ResNet-20 on Fashion-MNIST in PyTorch with actlab's recipe (SPEC 4-5), to compare accuracies.

  python3 tools/pytorch_fmnist.py [--act SPEC] [--epochs E] [--no-augment] [--threads T] [--seed S]
                                  [--device cpu|cuda] [--data DIR] [--init-from FILE]

SGD lr 0.1, momentum 0.9, weight decay 1e-4 on conv/linear weights only, batch 128, per-iteration cosine to
0; crop with 4-pixel zero padding (in pixel space) and horizontal flip; BN momentum 0.1. Prints the test
accuracy after each epoch.
"""

import argparse
import gzip
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_activations  # noqa: E402
from torch_models import backbone_convs, resnet20, weight_decay_groups  # noqa: E402

DIR = "/usr/share/datasets/fashion-mnist"


def idx(directory, name):
    with gzip.open(os.path.join(directory, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).view(*shape)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--act", default="relu")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=0, help="stop after N steps, printing each loss")
    p.add_argument("--device", default="cpu", help="cpu or cuda (fp32: TF32 off)")
    p.add_argument("--data", default=DIR, help="the IDX files' folder")
    p.add_argument("--init-from", help="start from these weights (safetensors, e.g. an actlab model.safetensors)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    train_x, train_y = idx(a.data, "train-images-idx3-ubyte.gz"), idx(a.data, "train-labels-idx1-ubyte.gz").long()
    test_x, test_y = idx(a.data, "t10k-images-idx3-ubyte.gz"), idx(a.data, "t10k-labels-idx1-ubyte.gz").long()
    train_y, test_x, test_y = train_y.to(dev), test_x.to(dev), test_y.to(dev)
    act = None if a.act == "relu" else (lambda c: torch_activations.make(a.act, c))
    model = resnet20(in_channels=1, classes=10, act=act)
    for m in backbone_convs(model):  # torchvision's init for the backbone's convolutions, as actlab's
        torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    if a.init_from:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(a.init_from))
    model.to(dev)
    opt = torch.optim.SGD(weight_decay_groups(model, 1e-4), lr=0.1, momentum=0.9)
    steps_per_epoch = math.ceil(len(train_x) / 128)
    total = steps_per_epoch * a.epochs
    step = 0
    norm = lambda u8: ((u8.float() / 255.0) - 0.2860) / 0.3530  # noqa: E731
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(train_x))
        for b in range(steps_per_epoch):
            ids = order[b * 128:(b + 1) * 128]
            x = train_x[ids].float().unsqueeze(1)
            if not a.no_augment:
                padded = F.pad(x, (4, 4, 4, 4))
                dy, dx = torch.randint(0, 9, (2, len(ids)))
                x = torch.stack([padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(len(ids))])
                flip = torch.rand(len(ids)) < 0.5
                x[flip] = x[flip].flip(-1)
            x = ((x.to(dev) / 255.0) - 0.2860) / 0.3530
            for g in opt.param_groups:
                g["lr"] = 0.1 * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(x), train_y[ids.to(dev)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if a.max_steps:
                print(f"step {step}: loss {loss.item():.4f}", flush=True)
                if step >= a.max_steps:
                    return
        model.eval()
        with torch.no_grad():
            correct = sum((model(norm(test_x[i:i + 500]).unsqueeze(1)).argmax(1) == test_y[i:i + 500]).sum().item()
                          for i in range(0, len(test_x), 500))
        print(f"epoch {epoch + 1}: test accuracy {100.0 * correct / len(test_x):.2f}%", flush=True)


if __name__ == "__main__":
    main()
