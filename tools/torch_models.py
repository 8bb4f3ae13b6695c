"""PyTorch reference models for actlab's tests, written from SPEC.md (not from actlab code).

Holds the CIFAR-style ResNet family of SPEC 2.1 (resnet20/32/44/56/110) with ReLU at every activation
position, named so that its state_dict matches actlab's checkpoints (SPEC 3): `conv1`, `bn1`, `act1`,
`layerS.i.{conv1,bn1,act1,conv2,bn2,act2}`, `fc`. Used by tools/make_fixtures.py and
tools/check_actlab_checkpoint.py. Also ResNet-18 and MobileNetV2 laid out, named and initialised like
torchvision's (SPEC 2.2, 2.3), for tools/make_tv_model_fixtures.py and tools/check_torchvision_load.py.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# n BasicBlocks per stage for each depth (depth = 6n + 2).
RESNET_CIFAR_BLOCKS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}


def backbone_modules(model):
    """The model's own modules, for its init loop. Those inside an activation module (torch_activations:
    DyReLU's fc1/fc2 and `spatial`, Meta-ACON's fc1/bn1/fc2/bn2) keep PyTorch's default init, as they do
    in actlab (layers/conv2d.h, ConvInit)."""
    inside = {id(c) for m in model.modules() if type(m).__module__ == "torch_activations" for c in m.modules()}
    return [m for m in model.modules() if id(m) not in inside]


def backbone_convs(model):
    return [m for m in backbone_modules(model) if isinstance(m, nn.Conv2d)]


def weight_decay_groups(model, weight_decay):
    """SGD parameter groups for SPEC 5's rule: decay on conv and linear weights only (those inside an
    activation included); biases, BN and activation parameters undecayed."""
    decay = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rest = [p for p in model.parameters() if all(p is not q for q in decay)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


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


class TVBasicBlock(nn.Module):
    """torchvision's BasicBlock with its `relu` split into positions act1 (after bn1) and act2 (after the
    residual add) (SPEC 2.2); projection shortcut downsample.0 (1x1 conv, no bias) + downsample.1 (BN)."""

    def __init__(self, in_planes, planes, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = act(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))
        self.act2 = act(planes)

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act2(out + identity)


class TVResNet(nn.Module):
    """torchvision.models.resnet18's layout and names (SPEC 2.2): conv1 7x7/2, bn1, act1, maxpool 3x3/2,
    layer1..4 of BasicBlocks (64/128/256/512), avgpool, fc. cifar=True: 3x3/1 stem and no max-pool."""

    def __init__(self, blocks=(2, 2, 2, 2), in_channels=3, classes=1000, cifar=False, act=None):
        super().__init__()
        act = act or (lambda channels: nn.ReLU())
        if cifar:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = act(64)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, stride=2, padding=1)
        in_planes = 64
        for stage, n in enumerate(blocks, start=1):
            planes = 64 << (stage - 1)
            layer = []
            for i in range(n):
                layer.append(TVBasicBlock(in_planes, planes, 2 if stage > 1 and i == 0 else 1, act))
                in_planes = planes
            setattr(self, f"layer{stage}", nn.Sequential(*layer))
        self.fc = nn.Linear(512, classes)
        for m in backbone_convs(self):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def make_divisible(v, divisor=8):
    """torchvision's _make_divisible."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn_act(in_c, out_c, kernel, stride, groups, act):
    """torchvision's Conv2dNormActivation: Sequential(conv (no bias), BN, activation)."""
    return nn.Sequential(nn.Conv2d(in_c, out_c, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_c), act(out_c))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, act):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(inp, hidden, 1, 1, 1, act))
        layers += [conv_bn_act(hidden, hidden, 3, stride, hidden, act),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TVMobileNetV2(nn.Module):
    """torchvision.models.mobilenet_v2's layout, names and init (SPEC 2.3), activation positions
    features.0.2, features.N.conv.*.2, features.18.2 (ReLU6 by default). cifar=True: stem stride 1 and
    the (6, 24, 2, 2) stage at stride 1."""

    def __init__(self, in_channels=3, classes=1000, width=1.0, dropout=0.2, cifar=False, act=None):
        super().__init__()
        act = act or (lambda channels: nn.ReLU6())
        settings = [(1, 16, 1, 1), (6, 24, 2, 1 if cifar else 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                    (6, 160, 3, 2), (6, 320, 1, 1)]
        inp = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        features = [conv_bn_act(in_channels, inp, 3, 1 if cifar else 2, 1, act)]
        for t, c, n, s in settings:
            oup = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(inp, oup, s if i == 0 else 1, t, act))
                inp = oup
        features.append(conv_bn_act(inp, last, 1, 1, 1, act))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last, classes))
        for m in backbone_convs(self):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        for m in backbone_modules(self):
            if isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.classifier(x)


def resnet18(in_channels=3, classes=1000, cifar=False, act=None):
    return TVResNet((2, 2, 2, 2), in_channels, classes, cifar, act)


def mobilenetv2(in_channels=3, classes=1000, width=1.0, dropout=0.2, cifar=False, act=None):
    return TVMobileNetV2(in_channels, classes, width, dropout, cifar, act)


TV_MODELS = {
    "resnet18": lambda act, classes: resnet18(classes=classes, act=act),
    "resnet18-cifar": lambda act, classes: resnet18(classes=classes, cifar=True, act=act),
    "mobilenetv2": lambda act, classes: mobilenetv2(classes=classes, act=act),
    "mobilenetv2-cifar": lambda act, classes: mobilenetv2(classes=classes, cifar=True, act=act),
}


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
