#!/usr/bin/env python3
"""End-to-end check that a torchvision-layout model saved by PyTorch (torch.save of its state_dict, as
torchvision's downloadable weights are) loads into actlab and gives PyTorch's outputs.

    python3 tools/check_torchvision_load.py [--model resnet18|mobilenetv2] [--actlab build/actlab]

Builds the model in PyTorch (tools/torch_models.py: torchvision's layout, names and init; 10 classes), moves
its BN statistics off their initial values (and scales MobileNetV2's tiny head up), saves model.state_dict() with torch.save, converts it with
tools/torchvision_to_safetensors.py, writes 64 random 32x32 RGB images in the CIFAR-10 binary format, and
compares `actlab eval --json` (mean cross-entropy and accuracy over those images, eval mode) with the
same computed by PyTorch on the same normalised pixels. Exit status 0 when the losses agree to 1e-4 relative.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet18", choices=["resnet18", "mobilenetv2"])
    parser.add_argument("--actlab", default=os.path.join(os.path.dirname(__file__), "..", "build", "actlab"))
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torch_models.TV_MODELS[args.model](None, 10)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_mean"):
                t.normal_(0, 0.1)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif name.endswith("bn1.weight") or name.endswith(".1.weight") and t.dim() == 1:
                t.uniform_(0.5, 1.5)
            elif name == "classifier.1.weight":
                t.mul_(100.0)  # torchvision's N(0, 0.01) head gives near-uniform logits: make them informative
    model.eval()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 64).astype(np.uint8)
    pixels = rng.integers(0, 256, (64, 3, 32, 32)).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, f"{args.model}.pth")
        torch.save(model.state_dict(), pth)
        st = os.path.join(tmp, f"{args.model}.safetensors")
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "torchvision_to_safetensors.py"),
                        pth, st], check=True)
        data = os.path.join(tmp, "cifar")
        os.makedirs(data)
        records = np.concatenate([labels[:, None], pixels.reshape(64, -1)], axis=1)
        for name in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                     "data_batch_5.bin", "test_batch.bin"]:
            records.tofile(os.path.join(data, name))
        out = subprocess.run([args.actlab, "eval", "--model", args.model, "--data", f"cifar10:{data}",
                              "--checkpoint", st, "--json", "--threads", "2"], check=True, capture_output=True,
                             text=True).stdout
        ours = json.loads(out)
    x = torch.from_numpy(pixels).float() / 255.0
    x = (x - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = model(x)
    loss = F.cross_entropy(logits, torch.from_numpy(labels).long()).item()
    accuracy = (logits.argmax(1).numpy() == labels).mean()
    rel = abs(ours["loss"] - loss) / abs(loss)
    print(f"{args.model}: actlab eval loss {ours['loss']:.6f} accuracy {ours['accuracy']:.4f}; "
          f"PyTorch loss {loss:.6f} accuracy {accuracy:.4f}; relative difference {rel:.2e}")
    sys.exit(0 if rel <= 1e-4 and abs(ours["accuracy"] - accuracy) < 1e-9 else 1)


if __name__ == "__main__":
    main()
