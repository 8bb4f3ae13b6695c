#!/usr/bin/env python3
"""Forward + backward time of one convolution in PyTorch eager, as bench_conv times actlab's:
y = F.conv2d(x, w, None, stride, pad, groups) with x and w requiring grad, then y.backward(dy).
groups defaults to C (depthwise). Prints one JSON line: medians over --reps of the forward alone and
of forward + backward, and the least bytes a depthwise step moves, 3·(|x| + |y|) floats.

  python3 bench/pytorch_conv.py --shape N,C,H,W [--stride S] [--kernel R] [--pad P] [--groups G]
                                [--threads T] [--reps R] [--warmup W]
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="128,144,32,32")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--pad", type=int, default=-1)
    p.add_argument("--groups", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    n, c, h, w_ = (int(v) for v in a.shape.split(","))
    pad = a.kernel // 2 if a.pad < 0 else a.pad
    groups = a.groups or c
    torch.manual_seed(1)
    x = torch.randn(n, c, h, w_, requires_grad=True)
    w = (torch.randn(c, c // groups, a.kernel, a.kernel) * 0.3).requires_grad_(True)
    with torch.no_grad():
        pq_shape = F.conv2d(x[:1], w, None, a.stride, pad, 1, groups).shape[2:]
    pq = pq_shape.numel()
    dy = torch.randn(n, c, *pq_shape)
    forward_ms, step_ms = [], []
    for r in range(a.warmup + a.reps):
        x.grad = None
        w.grad = None
        start = time.perf_counter()
        y = F.conv2d(x, w, None, a.stride, pad, 1, groups)
        middle = time.perf_counter()
        y.backward(dy)
        stop = time.perf_counter()
        if r >= a.warmup:
            forward_ms.append((middle - start) * 1000.0)
            step_ms.append((stop - start) * 1000.0)
    nbytes = 3 * 4 * n * c * (h * w_ + pq)
    ms = statistics.median(step_ms)
    print(json.dumps({"impl": "pytorch " + torch.__version__, "shape": a.shape, "kernel": a.kernel,
                      "stride": a.stride, "pad": pad, "groups": groups, "threads": a.threads,
                      "forward_ms": round(statistics.median(forward_ms), 4), "ms": round(ms, 4),
                      "bytes": nbytes, "gb_per_s": round(nbytes / (ms * 1e6), 2)}))


if __name__ == "__main__":
    main()
