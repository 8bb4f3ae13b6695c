#!/usr/bin/env python3
"""Forward + backward time of activations in PyTorch eager, written from SPEC 1 as users write them
(tools/torch_activations.py): y = act(x); y.backward(dy). --act and --shape may be repeated; for each
activation and shape, one JSON line with the median over --reps.

  python3 bench/pytorch_act.py --act SPEC... --shape N,C,H,W... [--threads T] [--device cpu|cuda] [--reps R]
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


def median_ms(spec, shape, device, reps, warmup):
    torch.manual_seed(1)
    act = torch_activations.make(spec, shape[1]).to(device)
    x = torch.randn(*shape, device=device, requires_grad=True)
    dy = torch.randn(*shape, device=device)
    times = []
    for r in range(warmup + reps):
        x.grad = None
        start = time.perf_counter()
        y = act(x)
        y.backward(dy)
        if x.grad.is_cuda:
            torch.cuda.synchronize()  # waits for the GPU; nothing to wait for on the CPU
        stop = time.perf_counter()
        if r >= warmup:
            times.append((stop - start) * 1000.0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--act", action="append")
    p.add_argument("--shape", action="append")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for spec in a.act or ["swish"]:
        for text in a.shape or ["128,16,32,32"]:
            shape = [int(v) for v in text.split(",")]
            ms = median_ms(spec, shape, a.device, a.reps, a.warmup)
            print(json.dumps({"impl": "pytorch " + torch.__version__, "act": spec, "shape": text,
                              "device": a.device, "threads": a.threads, "ms": round(ms, 4)}), flush=True)


if __name__ == "__main__":
    main()
