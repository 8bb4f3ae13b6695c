#!/usr/bin/env python3
"""Generate actlab's PyTorch test fixtures under tests/fixtures/ (independent references, SPEC 8).

Re-run from the repository root with:   python3 tools/make_fixtures.py
(`--only ops` rewrites tests/fixtures/ops.safetensors alone; `--only recipe` writes
tests/fixtures/resnet20_recipe.safetensors from the committed init and tiny-fmnist files.)
The output is deterministic (fixed seeds, one thread, float32 on CPU, gzip with mtime 0). Every module here
is written from SPEC.md (ResNet-20 in tools/torch_models.py), never from actlab code.

Files written (safetensors; float32 unless noted):

tests/fixtures/ops.safetensors — single ops: inputs, output, a random upstream gradient dy and autograd's
  gradients.
  conv.{x[2,4,7,7], w[6,2,3,3], b[6]}, groups=2, stride 2, pad 1 -> conv.{y, dy, dx, dw, db}
  conv1x1.{x[2,5,4,4], w[3,5,1,1]}, no bias, stride 1, pad 0 -> conv1x1.{y, dy, dx, dw}
  depthwise convolutions (groups = C, one filter per channel), each -> <name>.{y, dy, dx, dw} (+ db):
    dwconv.{x[3,5,9,11], w[5,1,3,3], b[5]}, stride 1, pad 1;
    dwconv_s2.{x[3,4,9,7], w[4,1,3,3]}, no bias, stride 2, pad 1;
    dwconv5.{x[2,3,8,10], w[3,1,5,5], b[3]}, stride 2, pad 2
  bn.{x[4,3,5,5], weight[3], bias[3], running_mean_in[3], running_var_in[3]}, momentum 0.1, eps 1e-5,
    training mode -> bn.{y, running_mean_out, running_var_out (unbiased), dy, dx, dweight, dbias};
    eval mode with the *_in statistics -> bn.y_eval
  linear.{x[5,7], w[3,7], b[3]} -> linear.{y, dy, dx, dw, db}
  ce.logits[6,5], ce.labels (int64 [6]); label_smoothing 0.1 -> ce.loss (shape []), ce.dlogits (gradient
    of the batch-mean loss); smoothing 0 -> ce.loss_plain, ce.dlogits_plain
  pool.x[2,3,9,9]; max pool 3x3/2 pad 1 -> maxpool.y, pool.dy_max, maxpool.dx;
    avg pool 3x3/2 pad 1, count_include_pad=True -> avgpool.y, pool.dy_avg, avgpool.dx

tests/fixtures/resnet20_init.safetensors — state_dict of ResNet-20 (SPEC 2.1, ReLU, in_channels 1,
  10 classes), seeded random weights with every BN parameter and buffer moved off its initial value:
  weight ~ U(0.5,1.5), bias ~ N(0,0.1), running_mean ~ N(0,0.1), running_var ~ U(0.5,1.5),
  num_batches_tracked = 7 (int64, shape []). Saved with save_file, no metadata.

tests/fixtures/tiny-fmnist/ — Fashion-MNIST-format IDX files, gzip-compressed:
  train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (64 samples),
  t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz (48 samples); 28x28 uint8 images made of a
  class-dependent blob plus noise, labels 0-9.

tests/fixtures/resnet20_expect.safetensors — what actlab must reproduce with the model above, inputs
  normalised as x = (pixel/255 - 0.2860)/0.3530 (SPEC 4):
  eval.logits[48,10], eval.loss (shape []), eval.accuracy (shape [], fraction): eval mode, first 48 test
    images (actlab eval --limit 48).
  train.loss (shape []): loss of one training step before the update, i.e.
    actlab train --model resnet20 --data fashion-mnist:tests/fixtures/tiny-fmnist
      --init-from tests/fixtures/resnet20_init.safetensors --batch 16 --lr 0.1 --momentum 0 --wd 0
      --schedule none --no-shuffle --no-augment --max-steps 1
    (train mode, first 16 training images in file order, mean cross-entropy, torch.optim.SGD lr 0.1,
    momentum 0, weight decay 0, one step).
  after.<name>: every state_dict entry after that step (num_batches_tracked int64, = 8).
  delta.<name>: after - before, for every float entry.
  spread.<name>: for every float entry, the elementwise max over three jittered repeats of the same step
    (inputs + N(0, 1e-6) noise, seeds 101, 102, 103) of |delta_jittered - delta|: PyTorch's own spread
    (SPEC 8). Compare actlab's delta with delta within max(1% of |delta|, a few times spread).

tests/fixtures/resnet20_recipe.safetensors — one epoch of SPEC 5's optimizer and schedule on the 64
  training images from the model above: four steps of batch 16 in file order, no augmentation, SGD momentum
  0.9 (dampening 0), per-iteration cosine from lr 0.02 to 0 (0.02, 0.01707, 0.01, 0.00293), mean
  cross-entropy. lr 0.02 keeps four steps from a random model out of the chaotic regime, and weight decay
  0.05 makes the decay visible beside the gradient. Two variants:
    role: weight decay on conv and linear weights only (SPEC 5's default), i.e.
      actlab train --model resnet20 --data fashion-mnist:tests/fixtures/tiny-fmnist
        --init-from tests/fixtures/resnet20_init.safetensors --batch 16 --epochs 1 --no-shuffle
        --no-augment --lr 0.02 --wd 0.05
    all: every parameter decayed, Nesterov momentum (the same plus --wd-on all --nesterov).
  <variant>.loss[4]: each step's loss before its update; <variant>.loss_spread (shape []): the largest
  change of their mean under the jitter below; <variant>.delta.<name>: after - before for every
  float entry; <variant>.spread.<name> (shape []): the norm of the elementwise max over the same four steps
  with every batch jittered by N(0, 1e-6) (seeds 101-103) of |delta_jittered - delta|.
"""

import copy
import gzip
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import count_parameters, resnet20, weight_decay_groups  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
DATA_DIR = os.path.join(FIXTURES, "tiny-fmnist")

FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530
N_TRAIN, N_TEST, IMAGE = 64, 48, 28
BATCH, LR = 16, 0.1
JITTER_SEEDS = (101, 102, 103)


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def save(tensors, path):
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    save_file(tensors, path)


# ---------------------------------------------------------------------------------------------------
# 1. Single ops
# ---------------------------------------------------------------------------------------------------

def make_ops():
    out = {}

    # Grouped, strided, padded convolution with bias.
    torch.manual_seed(1)
    x, w, b = torch.randn(2, 4, 7, 7), torch.randn(6, 2, 3, 3) * 0.5, torch.randn(6)
    xg, wg, bg = leaf(x), leaf(w), leaf(b)
    y = F.conv2d(xg, wg, bg, stride=2, padding=1, groups=2)
    dy = torch.randn_like(y)
    y.backward(dy)
    out.update({"conv.x": x, "conv.w": w, "conv.b": b, "conv.y": y, "conv.dy": dy,
                "conv.dx": xg.grad, "conv.dw": wg.grad, "conv.db": bg.grad})

    # 1x1 convolution without bias.
    torch.manual_seed(2)
    x, w = torch.randn(2, 5, 4, 4), torch.randn(3, 5, 1, 1) * 0.5
    xg, wg = leaf(x), leaf(w)
    y = F.conv2d(xg, wg, None, stride=1, padding=0)
    dy = torch.randn_like(y)
    y.backward(dy)
    out.update({"conv1x1.x": x, "conv1x1.w": w, "conv1x1.y": y, "conv1x1.dy": dy,
                "conv1x1.dx": xg.grad, "conv1x1.dw": wg.grad})

    # Depthwise convolutions (MobileNetV2's): odd sizes, stride 1 and 2, 3x3 and 5x5.
    for name, seed, xshape, k, stride, pad, bias in (("dwconv", 7, (3, 5, 9, 11), 3, 1, 1, True),
                                                     ("dwconv_s2", 8, (3, 4, 9, 7), 3, 2, 1, False),
                                                     ("dwconv5", 9, (2, 3, 8, 10), 5, 2, 2, True)):
        torch.manual_seed(seed)
        c = xshape[1]
        x, w = torch.randn(*xshape), torch.randn(c, 1, k, k) * 0.5
        b = torch.randn(c) if bias else None
        xg, wg = leaf(x), leaf(w)
        bg = leaf(b) if bias else None
        y = F.conv2d(xg, wg, bg, stride=stride, padding=pad, groups=c)
        dy = torch.randn_like(y)
        y.backward(dy)
        out.update({f"{name}.x": x, f"{name}.w": w, f"{name}.y": y, f"{name}.dy": dy,
                    f"{name}.dx": xg.grad, f"{name}.dw": wg.grad})
        if bias:
            out.update({f"{name}.b": b, f"{name}.db": bg.grad})

    # BatchNorm, training mode (batch statistics, running stats updated with unbiased variance),
    # then eval mode with the incoming running statistics.
    torch.manual_seed(3)
    x = torch.randn(4, 3, 5, 5) * torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1, 1) \
        + torch.tensor([0.3, -1.0, 2.0]).view(1, 3, 1, 1)
    weight = torch.empty(3).uniform_(0.5, 1.5)
    bias = torch.randn(3) * 0.3
    rm_in = torch.randn(3) * 0.5
    rv_in = torch.empty(3).uniform_(0.5, 2.0)
    bn = nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        bn.running_mean.copy_(rm_in)
        bn.running_var.copy_(rv_in)
    bn.train()
    xg = leaf(x)
    y = bn(xg)
    dy = torch.randn_like(y)
    y.backward(dy)
    y_eval = F.batch_norm(x, rm_in, rv_in, weight, bias, training=False, eps=1e-5)
    out.update({"bn.x": x, "bn.weight": weight, "bn.bias": bias,
                "bn.running_mean_in": rm_in, "bn.running_var_in": rv_in,
                "bn.y": y, "bn.running_mean_out": bn.running_mean, "bn.running_var_out": bn.running_var,
                "bn.dy": dy, "bn.dx": xg.grad, "bn.dweight": bn.weight.grad, "bn.dbias": bn.bias.grad,
                "bn.y_eval": y_eval})

    # Linear.
    torch.manual_seed(4)
    x, w, b = torch.randn(5, 7), torch.randn(3, 7) * 0.5, torch.randn(3)
    xg, wg, bg = leaf(x), leaf(w), leaf(b)
    y = F.linear(xg, wg, bg)
    dy = torch.randn_like(y)
    y.backward(dy)
    out.update({"linear.x": x, "linear.w": w, "linear.b": b, "linear.y": y, "linear.dy": dy,
                "linear.dx": xg.grad, "linear.dw": wg.grad, "linear.db": bg.grad})

    # Cross-entropy, mean over the batch, with and without label smoothing.
    torch.manual_seed(5)
    logits = torch.randn(6, 5) * 2.0
    labels = torch.randint(0, 5, (6,), dtype=torch.int64)
    for suffix, smoothing in (("", 0.1), ("_plain", 0.0)):
        lg = leaf(logits)
        loss = F.cross_entropy(lg, labels, label_smoothing=smoothing)
        loss.backward()
        out[f"ce.loss{suffix}"] = loss
        out[f"ce.dlogits{suffix}"] = lg.grad
    out["ce.logits"] = logits
    out["ce.labels"] = labels

    # Pooling, 3x3 stride 2 pad 1 (9x9 -> 5x5). Random floats: no ties inside a max window.
    torch.manual_seed(6)
    x = torch.randn(2, 3, 9, 9)
    xg = leaf(x)
    y = F.max_pool2d(xg, 3, stride=2, padding=1)
    dy_max = torch.randn_like(y)
    y.backward(dy_max)
    out.update({"pool.x": x, "maxpool.y": y, "pool.dy_max": dy_max, "maxpool.dx": xg.grad})
    xg = leaf(x)
    y = F.avg_pool2d(xg, 3, stride=2, padding=1, count_include_pad=True)
    dy_avg = torch.randn_like(y)
    y.backward(dy_avg)
    out.update({"avgpool.y": y, "pool.dy_avg": dy_avg, "avgpool.dx": xg.grad})

    for k, v in out.items():
        if k != "ce.labels":
            assert v.dtype == torch.float32, k
    return out


# ---------------------------------------------------------------------------------------------------
# 2. ResNet-20 with every parameter and buffer off its initial value
# ---------------------------------------------------------------------------------------------------

def make_resnet20_init():
    assert count_parameters(resnet20(in_channels=3, classes=10)) == 269_722, "SPEC 2.1 parameter count"
    torch.manual_seed(20)
    model = resnet20(in_channels=1, classes=10)  # conv/linear: PyTorch's default random init
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    return model


# ---------------------------------------------------------------------------------------------------
# 3. Tiny Fashion-MNIST-format data set
# ---------------------------------------------------------------------------------------------------

def make_images(n, gen):
    """Labels cover 0-9 evenly in a shuffled order; each image is a Gaussian blob whose centre and size
    depend on the class, plus noise."""
    labels = torch.arange(n, dtype=torch.int64) % 10
    labels = labels[torch.randperm(n, generator=gen)]
    yy, xx = torch.meshgrid(torch.arange(IMAGE, dtype=torch.float32),
                            torch.arange(IMAGE, dtype=torch.float32), indexing="ij")
    images = torch.empty(n, IMAGE, IMAGE, dtype=torch.uint8)
    for i in range(n):
        c = int(labels[i])
        angle = 2.0 * torch.pi * c / 10.0
        cy = 13.5 + 7.0 * torch.sin(torch.tensor(angle)) + torch.randn(1, generator=gen).item()
        cx = 13.5 + 7.0 * torch.cos(torch.tensor(angle)) + torch.randn(1, generator=gen).item()
        sigma = 2.5 + 0.3 * (c % 4)
        blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma * sigma))
        img = 220.0 * blob + 25.0 * torch.randn(IMAGE, IMAGE, generator=gen) + 30.0
        images[i] = img.round().clamp(0, 255).to(torch.uint8)
    return images, labels


def idx_bytes(array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.contiguous().numpy().tobytes()


def write_gz(path, data):
    with open(path, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def make_tiny_fmnist():
    gen = torch.Generator().manual_seed(30)
    train_x, train_y = make_images(N_TRAIN, gen)
    test_x, test_y = make_images(N_TEST, gen)
    os.makedirs(DATA_DIR, exist_ok=True)
    for split, x, y in (("train", train_x, train_y), ("t10k", test_x, test_y)):
        write_gz(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"), idx_bytes(x, 0x00000803))
        write_gz(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"),
                 idx_bytes(y.to(torch.uint8), 0x00000801))
    return train_x, train_y, test_x, test_y


def read_idx_gz(path):
    """Read back what was written, as actlab will, so the expectations come from the files themselves."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    assert len(body) == torch.Size(dims).numel(), path
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def normalise(images_u8):
    x = images_u8.to(torch.float32) / 255.0
    x = (x - FMNIST_MEAN) / FMNIST_STD
    return x.unsqueeze(1)  # [N, 1, 28, 28]


# ---------------------------------------------------------------------------------------------------
# 4. Expected evaluation and one training step
# ---------------------------------------------------------------------------------------------------

def sgd_step(init_model, x, y):
    model = copy.deepcopy(init_model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.0, weight_decay=0.0)
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.detach(), {k: v.detach().clone() for k, v in model.state_dict().items()}


def make_expect(model, train_x, train_y, test_x, test_y):
    out = {}
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}

    ev = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits = ev(normalise(test_x[:N_TEST]))
        labels = test_y[:N_TEST]
        out["eval.logits"] = logits
        out["eval.loss"] = F.cross_entropy(logits, labels)
        out["eval.accuracy"] = (logits.argmax(dim=1) == labels).to(torch.float32).mean()

    x, y = normalise(train_x[:BATCH]), train_y[:BATCH]
    loss, after = sgd_step(model, x, y)
    out["train.loss"] = loss
    delta = {}
    for k, v in after.items():
        out[f"after.{k}"] = v
        if v.is_floating_point():
            delta[k] = v - before[k]
            out[f"delta.{k}"] = delta[k]

    spread = {k: torch.zeros_like(v) for k, v in delta.items()}
    for seed in JITTER_SEEDS:
        gen = torch.Generator().manual_seed(seed)
        xj = x + 1e-6 * torch.randn(x.shape, generator=gen)
        _, after_j = sgd_step(model, xj, y)
        for k in delta:
            spread[k] = torch.maximum(spread[k], ((after_j[k] - before[k]) - delta[k]).abs())
    for k, v in spread.items():
        out[f"spread.{k}"] = v

    # The initial model must be untouched by all of the above.
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    return out


RECIPE_STEPS, RECIPE_LR, MOMENTUM, WEIGHT_DECAY = 4, 0.02, 0.9, 0.05


def recipe_epoch(init_model, batches, decay_all, jitter_seed=None, lr=RECIPE_LR, weight_decay=WEIGHT_DECAY):
    """SPEC 5 over the given batches: per-iteration cosine, momentum, decay on weights only or on all.
    Weights are the conv and linear weights, those inside an activation included."""
    model = copy.deepcopy(init_model)
    model.train()
    if decay_all:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=weight_decay, nesterov=True)
    else:
        opt = torch.optim.SGD(weight_decay_groups(model, weight_decay), lr=lr, momentum=MOMENTUM)
    gen = torch.Generator().manual_seed(jitter_seed) if jitter_seed is not None else None
    losses = []
    for step, (x, y) in enumerate(batches):
        if gen is not None:
            x = x + 1e-6 * torch.randn(x.shape, generator=gen)
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1.0 + math.cos(math.pi * step / len(batches)))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses), {k: v.detach().clone() for k, v in model.state_dict().items()}


def make_recipe_expect():
    model = resnet20(in_channels=1, classes=10)
    model.load_state_dict(load_file(os.path.join(FIXTURES, "resnet20_init.safetensors")))
    train_x = read_idx_gz(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    train_y = read_idx_gz(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz")).to(torch.int64)
    assert len(train_x) == RECIPE_STEPS * BATCH
    batches = [(normalise(train_x[i:i + BATCH]), train_y[i:i + BATCH]) for i in range(0, len(train_x), BATCH)]
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = {}
    for variant, decay_all in (("role", False), ("all", True)):
        losses, after = recipe_epoch(model, batches, decay_all)
        out[f"{variant}.loss"] = losses
        delta = {k: v - before[k] for k, v in after.items() if v.is_floating_point()}
        spread = {k: torch.zeros_like(v) for k, v in delta.items()}
        loss_spread = torch.zeros(())
        for seed in JITTER_SEEDS:
            losses_j, after_j = recipe_epoch(model, batches, decay_all, jitter_seed=seed)
            loss_spread = torch.maximum(loss_spread, (losses_j.mean() - losses.mean()).abs())
            for k in delta:
                spread[k] = torch.maximum(spread[k], ((after_j[k] - before[k]) - delta[k]).abs())
        for k in delta:
            out[f"{variant}.delta.{k}"] = delta[k]
            out[f"{variant}.spread.{k}"] = spread[k].norm()
        out[f"{variant}.loss_spread"] = loss_spread
    return out


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    os.makedirs(FIXTURES, exist_ok=True)

    if sys.argv[1:] == ["--only", "recipe"]:
        recipe = make_recipe_expect()
        save(recipe, os.path.join(FIXTURES, "resnet20_recipe.safetensors"))
        for variant in ("role", "all"):
            print(f"{variant}.loss", [round(v, 6) for v in recipe[f"{variant}.loss"].tolist()])
        return
    save(make_ops(), os.path.join(FIXTURES, "ops.safetensors"))
    if sys.argv[1:] == ["--only", "ops"]:
        return

    model = make_resnet20_init()
    save(model.state_dict(), os.path.join(FIXTURES, "resnet20_init.safetensors"))

    make_tiny_fmnist()
    train_x = read_idx_gz(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    train_y = read_idx_gz(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz")).to(torch.int64)
    test_x = read_idx_gz(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"))
    test_y = read_idx_gz(os.path.join(DATA_DIR, "t10k-labels-idx1-ubyte.gz")).to(torch.int64)

    expect = make_expect(model, train_x, train_y, test_x, test_y)
    save(expect, os.path.join(FIXTURES, "resnet20_expect.safetensors"))
    save(make_recipe_expect(), os.path.join(FIXTURES, "resnet20_recipe.safetensors"))

    print(f"eval.loss {expect['eval.loss'].item():.6f}  eval.accuracy {expect['eval.accuracy'].item():.4f}  "
          f"train.loss {expect['train.loss'].item():.6f}")
    for root, _, files in sorted(os.walk(FIXTURES)):
        for name in sorted(files):
            path = os.path.join(root, name)
            print(f"{os.path.relpath(path, ROOT)}  {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
