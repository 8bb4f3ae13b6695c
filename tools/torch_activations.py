"""The activations of SPEC 1 as PyTorch modules, written from SPEC.md (never from actlab's code).

Used by tools/make_activation_fixtures.py to make independent references. Parameter names and shapes are
SPEC 1's, so a state_dict of a model using these modules loads into actlab and back.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _sinc_plus(x):
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.ones_like(x), torch.sin(safe) / safe) + x


FIXED = {
    "relu": F.relu,
    "relu6": F.relu6,
    "silu": F.silu,
    "gelu": F.gelu,
    "selu": F.selu,
    "softplus": F.softplus,
    "mish": F.mish,
    "hard-swish": F.hardswish,
    "max-sigmoid": lambda x: torch.maximum(x, torch.sigmoid(x)),
    "cos-minus": lambda x: torch.cos(x) - x,
    "min-sin": lambda x: torch.minimum(x, torch.sin(x)),
    "atan-sq-minus": lambda x: torch.atan(x) ** 2 - x,
    "max-tanh": lambda x: torch.maximum(x, torch.tanh(x)),
    "sinc-plus": _sinc_plus,
    "x-asinh-sq": lambda x: x * torch.asinh(x) ** 2,
}


class Fixed(nn.Module):
    def __init__(self, name, slope=0.01, alpha=1.0):
        super().__init__()
        if name == "leaky-relu":
            self.f = lambda x: F.leaky_relu(x, slope)
        elif name == "elu":
            self.f = lambda x: F.elu(x, alpha)
        else:
            self.f = FIXED[name]

    def forward(self, x):
        return self.f(x)


class PReLU(nn.PReLU):
    def __init__(self, channels, init=0.25):
        super().__init__(channels, init)


class Swish(nn.Module):
    """x·σ(β_c x), β [1,C,1,1] (SPEC 1.3); also ACON-A (SPEC 1.4)."""

    def __init__(self, channels, beta=1.0):
        super().__init__()
        self.beta = nn.Parameter(torch.full((1, channels, 1, 1), float(beta)))

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


def smooth_max(a, b, beta):
    """S_β(a, b) = (a − b)·σ(β(a − b)) + b (SPEC 1.4)."""
    d = a - b
    return d * torch.sigmoid(beta * d) + b


class AconB(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.p = nn.Parameter(torch.full((1, channels, 1, 1), 0.25))
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x):
        return smooth_max(x, self.p * x, self.beta)


class AconC(nn.Module):
    def __init__(self, channels, init="randn"):
        super().__init__()
        if init == "swish":
            self.p1 = nn.Parameter(torch.ones(1, channels, 1, 1))
            self.p2 = nn.Parameter(torch.zeros(1, channels, 1, 1))
        else:
            self.p1 = nn.Parameter(torch.randn(1, channels, 1, 1))
            self.p2 = nn.Parameter(torch.randn(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x):
        return smooth_max(self.p1 * x, self.p2 * x, self.beta)


class MetaAcon(nn.Module):
    """ACON-C with β generated from x (SPEC 1.5): channel space (fc1, bn1, fc2, bn2), layer or pixel."""

    def __init__(self, channels, r=16, space="channel", bn=True):
        super().__init__()
        self.p1 = nn.Parameter(torch.randn(1, channels, 1, 1))
        self.p2 = nn.Parameter(torch.randn(1, channels, 1, 1))
        self.space, self.use_bn = space, bn
        if space == "channel":
            hidden = max(r, channels // r)
            self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
            if bn:
                self.bn1 = nn.BatchNorm2d(hidden)
            self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
            if bn:
                self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        if self.space == "channel":
            z = self.fc1(x.mean((2, 3), keepdim=True))
            if self.use_bn:
                z = self.bn1(z)
            z = self.fc2(z)
            if self.use_bn:
                z = self.bn2(z)
            beta = torch.sigmoid(z)
        elif self.space == "layer":
            beta = torch.sigmoid(x.mean((1, 2, 3), keepdim=True))
        else:
            beta = torch.sigmoid(x)
        return smooth_max(self.p1 * x, self.p2 * x, beta)


class DyReLU(nn.Module):
    """Dynamic ReLU A, B or C (SPEC 1.6): max over K lines whose coefficients come from a hyper function."""

    def __init__(self, channels, kind, k=2, r=4, tau=10.0):
        super().__init__()
        self.kind, self.k, self.tau = kind, k, tau
        hidden = max(1, channels // r)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, 2 * k * (1 if kind == "a" else channels))
        if kind == "c":
            self.spatial = nn.Conv2d(channels, 1, 1, bias=True)
        self.register_buffer("lambdas", torch.tensor([1.0] * k + [0.5] * k), persistent=False)
        self.register_buffer("init_v", torch.tensor([1.0] + [0.0] * (2 * k - 1)), persistent=False)

    def forward(self, x):
        n, c, h, w = x.shape
        theta = self.fc2(F.relu(self.fc1(x.mean((2, 3)))))
        delta = 2.0 * torch.sigmoid(theta) - 1.0
        coef = delta.view(n, 1 if self.kind == "a" else c, 2 * self.k) * self.lambdas + self.init_v
        a = coef[:, :, : self.k].unsqueeze(-1).unsqueeze(-1)  # [n, c|1, k, 1, 1]
        b = coef[:, :, self.k:].unsqueeze(-1).unsqueeze(-1)
        y = (a * x.unsqueeze(2) + b).max(dim=2).values
        if self.kind == "c":
            z = self.spatial(x) / self.tau
            pi = (h * w / 3.0) * torch.softmax(z.view(n, -1), dim=1).view(n, 1, h, w)
            y = y * torch.clamp(pi, max=1.0)
        return y


class PWLU(nn.Module):
    """Piecewise Linear Unit (SPEC 1.7), the function of phase II (the learning schedule is actlab's)."""

    def __init__(self, channels, n=16, mode="channel"):
        super().__init__()
        rows = 1 if mode == "layer" else channels
        self.n, self.layer = n, mode == "layer"
        left, right = -3.0, 3.0
        grid = left + torch.arange(n + 1, dtype=torch.float32) * (right - left) / n
        self.points = nn.Parameter(grid.clamp(min=0).repeat(rows, 1))
        self.bound_left = nn.Parameter(torch.full((rows,), left))
        self.bound_right = nn.Parameter(torch.full((rows,), right))
        self.slope_left = nn.Parameter(torch.zeros(rows))
        self.slope_right = nn.Parameter(torch.ones(rows))
        self.register_buffer("running_mean", torch.zeros(rows))
        self.register_buffer("running_std", torch.ones(rows))

    def forward(self, x):
        n, c = x.shape[0], x.shape[1]
        shape = (1, -1, 1, 1)
        bl, br = self.bound_left.view(shape), self.bound_right.view(shape)
        kl, kr = self.slope_left.view(shape), self.slope_right.view(shape)
        d = (br - bl) / self.n
        idx = torch.clamp(torch.floor((x - bl) / d), 0, self.n - 1).long()
        t = (x - (bl + idx * d)) / d
        rows = self.points if not self.layer else self.points.expand(c, -1)
        table = rows.unsqueeze(0).expand(n, -1, -1)                     # [N, C, n+1]
        flat = idx.view(n, c, -1)
        yi = torch.gather(table, 2, flat).view_as(x)
        yi1 = torch.gather(table, 2, flat + 1).view_as(x)
        inside = (1 - t) * yi + t * yi1
        y0 = rows[:, 0].view(shape)
        yn = rows[:, self.n].view(shape)
        left = (x - bl) * kl + y0
        right = (x - br) * kr + yn
        return torch.where(x < bl, left, torch.where(x >= br, right, inside))


def make(spec, channels):
    """The module a spec string names (the subset of SPEC 1 implemented so far)."""
    name, _, rest = spec.partition("(")
    options = {}
    if rest:
        for item in rest.rstrip(")").split(","):
            key, _, value = item.partition("=")
            options[key.strip()] = value.strip()
    if name in FIXED or name in ("leaky-relu", "elu"):
        return Fixed(name, float(options.get("slope", 0.01)), float(options.get("alpha", 1.0)))
    if name == "prelu":
        return PReLU(channels, float(options.get("init", 0.25)))
    if name in ("swish", "acon-a"):
        return Swish(channels, float(options.get("beta", 1.0)))
    if name == "acon-b":
        return AconB(channels)
    if name == "acon-c":
        return AconC(channels, options.get("init", "randn"))
    if name.startswith("dyrelu-"):
        return DyReLU(channels, name[-1], int(options.get("k", 2)), int(options.get("r", 4)),
                      float(options.get("tau", 10.0)))
    if name == "pwlu":
        return PWLU(channels, int(options.get("n", 16)), options.get("mode", "channel"))
    if name == "meta-acon":
        return MetaAcon(channels, int(options.get("r", 16)), options.get("space", "channel"),
                        options.get("bn", "true") == "true")
    raise ValueError(f"unknown activation {spec}")
