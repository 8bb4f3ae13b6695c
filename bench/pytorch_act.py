#!/usr/bin/env python3
"""Forward + backward time of one activation in PyTorch eager, written from SPEC 1 as users write it
(tools/torch_activations.py): y = act(x); y.backward(dy). Prints one JSON line, the median over --reps.

  python3 bench/pytorch_act.py --act SPEC --shape N,C,H,W [--threads T] [--device cpu|cuda] [--reps R]
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import torch  # noqa: E402

import torch_activations  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--act", default="swish")
    p.add_argument("--shape", default="128,16,32,32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    shape = [int(v) for v in a.shape.split(",")]
    torch.manual_seed(1)
    act = torch_activations.make(a.act, shape[1]).to(a.device)
    x = torch.randn(*shape, device=a.device, requires_grad=True)
    dy = torch.randn(*shape, device=a.device)
    times = []
    for r in range(a.warmup + a.reps):
        x.grad = None
        start = time.perf_counter()
        y = act(x)
        y.backward(dy)
        x.grad.sum().item()  # waits for the GPU
        stop = time.perf_counter()
        if r >= a.warmup:
            times.append((stop - start) * 1000.0)
    print(json.dumps({"impl": "pytorch " + torch.__version__, "act": a.act, "shape": a.shape, "device": a.device,
                      "threads": a.threads, "ms": round(statistics.median(times), 4)}))


if __name__ == "__main__":
    main()
