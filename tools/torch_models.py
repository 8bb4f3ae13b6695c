"""PyTorch reference models for actlab's tests, written from SPEC.md (not from actlab code).

Holds the CIFAR-style ResNet family of SPEC 2.1 (resnet20/32/44/56/110) with ReLU at every activation
position, named so that its state_dict matches actlab's checkpoints (SPEC 3): `conv1`, `bn1`, `act1`,
`layerS.i.{conv1,bn1,act1,conv2,bn2,act2}`, `fc`. Used by tools/make_fixtures.py and
tools/check_actlab_checkpoint.py.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# n BasicBlocks per stage for each depth (depth = 6n + 2).
RESNET_CIFAR_BLOCKS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}


class BasicBlock(nn.Module):
    """conv1 3x3 (stride s) - bn1 - act1 - conv2 3x3 - bn2, + shortcut, then act2.

    Shortcut option A (He et al. 2016, CIFAR): identity when the shape is kept, otherwise subsample by 2
    and pad planes/4 zero channels on each side; it has no parameters.
    """

    def __init__(self, in_planes, planes, stride, act=None):
        super().__init__()
        act = act or (lambda channels: nn.ReLU())
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = act(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = act(planes)
        self.downsample = stride != 1 or in_planes != planes
        self.planes = planes

    def shortcut(self, x):
        if not self.downsample:
            return x
        p = self.planes // 4
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """SPEC 2.1: stem conv1 3x3 in->16 / bn1 / act1; layer1..3 of n BasicBlocks, widths 16/32/64,
    stride 2 at the first block of layer2 and layer3; global average pool; fc Linear(64 -> classes)."""

    def __init__(self, depth=20, in_channels=3, classes=10, act=None):
        """act: channels -> activation module (default ReLU), e.g. from torch_activations.make."""
        super().__init__()
        act = act or (lambda channels: nn.ReLU())
        if depth not in RESNET_CIFAR_BLOCKS:
            raise ValueError(f"depth {depth} is not one of {sorted(RESNET_CIFAR_BLOCKS)}")
        n = RESNET_CIFAR_BLOCKS[depth]
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = act(16)
        in_planes = 16
        for stage, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1, act))
                in_planes = planes
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def resnet20(in_channels=3, classes=10, act=None):
    return CifarResNet(20, in_channels, classes, act)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
