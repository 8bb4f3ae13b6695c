"""PyTorch's side of bench/compare_train.sh: the same training step (ResNet-20 by default, or a torchvision-layout
resnet18 / mobilenetv2 and their -cifar variants from tools/torch_models.py) as bench_train
(forward, cross-entropy, backward, SGD momentum 0.9 wd 1e-4) at the same batch, input and thread count.
Prints one JSON line. Peak memory is the process's max RSS (PyTorch's CPU allocator keeps no counter).

    python3 bench/pytorch_train.py --input 3,32,32 --batch 128 --threads 2 --steps 20
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_activations  # noqa: E402
from torch_models import TV_MODELS, resnet20  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--input", default="3,32,32")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--act", default="", help="activation at every position (SPEC 1 spec string; default: the model's)")
    p.add_argument("--model", default="resnet20")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    # fp32 as actlab computes it: no TF32 in cuDNN or cuBLAS.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    c, h, w = (int(v) for v in a.input.split(","))
    torch.manual_seed(1)
    default = "relu6" if a.model.startswith("mobilenetv2") else "relu"
    a.act = a.act or default
    act = None if a.act == default else (lambda channels: torch_activations.make(a.act, channels))
    if a.model == "resnet20":
        model = resnet20(in_channels=c, classes=10, act=act)
    else:
        model = TV_MODELS[a.model](act, 10)
    model = model.train().to(a.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, c, h, w).to(a.device)
    y = torch.randint(0, 10, (a.batch,)).to(a.device)

    # Each step reads its loss back to the host, as a training loop does.
    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    if a.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    extra = {"peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1)} if a.device == "cuda" else {}
    print(json.dumps({"impl": "pytorch " + torch.__version__, "model": a.model, "device": a.device, "act": a.act, "input": a.input, "batch": a.batch,
                      "threads": a.threads, "images_per_s": round(a.steps * a.batch / seconds, 1),
                      "max_rss_mib": round(rss, 1), **extra}))


if __name__ == "__main__":
    main()
