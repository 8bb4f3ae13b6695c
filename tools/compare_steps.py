#!/usr/bin/env python3
"""Four training steps of ResNet-20 with any activation: actlab's CLI beside PyTorch, compared by SPEC 8's rule.

  python3 tools/compare_steps.py [--act SPEC ...] [--lr LR] [--wd WD] [--actlab build/actlab]

One epoch of tests/fixtures/tiny-fmnist: 64 images, batch 16, file order, no augmentation. The optimizer is
SPEC 5's: momentum 0.9, a per-iteration cosine from LR, weight decay on conv and linear weights only (those
inside an activation included). Both sides start from the same weights. The backbone comes from
tests/fixtures/resnet20_init.safetensors, and the activation's parameters are as tools/torch_activations.py
builds them (torch seed 0). actlab gets the whole set with --init-from.

PyTorch's own spread comes from the same steps with every batch jittered by N(0, 1e-6), seeds 101-103. Per
activation this prints how many tensors miss by more than max(1% of |Δtorch|, 3× spread), the worst ratio,
and the norms over all tensors. It exits with 1 if any tensor misses. Where actlab stops on a non-finite
loss, it says whether PyTorch's loss became non-finite too (x-asinh-sq does so at step 2 on both sides).
PWLU: pass pwlu(stat_epochs=0), so that actlab starts in the learning phase as the PyTorch module does.
With mode=layer, each of its bounds and slopes is one number summed over a whole layer, and it jumps
whenever a value crosses a breakpoint. Each step's gradients stay within 3× PyTorch's spread. After four
steps at lr 0.1, though, one such number can miss by a few times the bound (3.5× for
layer1.0.act1.slope_left, whose whole change is 3.7e-4).
"""

import argparse
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_activations  # noqa: E402
from make_fixtures import BATCH, DATA_DIR, FIXTURES, JITTER_SEEDS, normalise, read_idx_gz, recipe_epoch  # noqa: E402
from torch_models import resnet20  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compare(act, lr, wd, actlab, batches, workdir):
    torch.manual_seed(0)
    model = resnet20(in_channels=1, classes=10, act=lambda c: torch_activations.make(act, c))
    missing, unexpected = model.load_state_dict(load_file(os.path.join(FIXTURES, "resnet20_init.safetensors")),
                                                strict=False)
    assert not unexpected and all(".act" in "." + k for k in missing), (missing, unexpected)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    init = os.path.join(workdir, "init.safetensors")
    save_file({k: v.contiguous() for k, v in before.items()}, init)

    losses, theirs = recipe_epoch(model, batches, False, lr=lr, weight_decay=wd)
    jittered = [recipe_epoch(model, batches, False, seed, lr=lr, weight_decay=wd)[1] for seed in JITTER_SEEDS]
    run = os.path.join(workdir, "run")
    r = subprocess.run([actlab, "train", "--model", "resnet20", "--act", act, "--data", "fashion-mnist:" + DATA_DIR,
                        "--init-from", init, "--batch", str(BATCH), "--epochs", "1", "--no-shuffle", "--no-augment",
                        "--lr", str(lr), "--wd", str(wd), "--threads", "2", "--out", run],
                       capture_output=True, text=True)
    if r.returncode != 0:
        said = r.stderr.strip().splitlines()[-1]
        finite = torch.isfinite(losses)
        if finite.all():
            print(f"{act}: actlab stopped where PyTorch's losses stay finite: {said}", flush=True)
            return 1
        step = int((~finite).nonzero()[0]) + 1
        print(f"{act}: both diverge: PyTorch's loss is non-finite from step {step}; actlab: {said}", flush=True)
        return 0
    ours = load_file(os.path.join(run, "model.safetensors"))

    outside, worst, total = 0, 0.0, torch.zeros(3, dtype=torch.float64)
    for name, after in theirs.items():
        if not after.is_floating_point():
            continue
        delta = after - before[name]
        spread = torch.stack([(j[name] - before[name] - delta).abs() for j in jittered]).amax(0).norm().item()
        miss, change = (ours[name] - before[name] - delta).norm().item(), delta.norm().item()
        ratio = miss / max(0.01 * change, 3.0 * spread, 1e-12)
        if ratio > 1.0:
            outside += 1
            print(f"  {name}: |miss| {miss:.3g}, |change| {change:.3g}, |spread| {spread:.3g}")
        worst = max(worst, ratio)
        total += torch.tensor([miss, change, spread], dtype=torch.float64) ** 2
    miss, change, spread = total.sqrt().tolist()
    print(f"{act}: {outside} tensors outside, worst {worst:.2f} of the bound; over all tensors |miss| {miss:.3g}, "
          f"|change| {change:.3g}, |spread| {spread:.3g}", flush=True)
    return outside


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--act", nargs="+", default=["relu"])
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--actlab", default=os.path.join(ROOT, "build", "actlab"))
    a = p.parse_args()
    torch.set_num_threads(1)
    images = read_idx_gz(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    labels = read_idx_gz(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz")).to(torch.int64)
    batches = [(normalise(images[i:i + BATCH]), labels[i:i + BATCH]) for i in range(0, len(images), BATCH)]
    failed = 0
    for act in a.act:
        with tempfile.TemporaryDirectory() as workdir:
            failed += compare(act, a.lr, a.wd, a.actlab, batches, workdir) > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
