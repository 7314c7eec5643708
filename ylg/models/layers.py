"""The building blocks of SAGAN's generator and discriminator (SPEC section 7).

Every weight of a convolution, linear map or embedding is spectral-normalised. As in the published
code, G's and D's weights are divided by ``max(1, sigma)`` (an inequality constraint, sigma <= 1:
its ``equality_constrained=False``), while the attention layer's 1x1 convolutions are divided by
``sigma`` itself (both in :mod:`ylg.spectral`). ``constraint="equality"`` divides by ``sigma`` everywhere
(SN-GAN's and ``torch.nn.utils.parametrizations.spectral_norm``'s rule). Weights start Glorot
uniform with zero biases, as published.

The class-conditional BatchNorm's per-class gain and bias are normalisation parameters (like
BatchNorm's affine), not the weights of a linear map, and are left plain, as in the official code
(tfgan's ``batch_norm``: gain 1 and bias 0 per class, no spectral norm); its statistics use the
published epsilon 1e-3 (docs/design.md says why the moving-average decay is torch's).
"""

from __future__ import annotations

from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn
from ylg.spectral import SN_CONSTRAINTS, set_sn_constraint, spectral_norm

__all__ = ["SN_CONSTRAINTS", "spectral_norm", "set_sn_constraint", "sn_conv", "sn_linear",
           "sn_embedding", "ConditionalBatchNorm2d", "UpBlock", "DownBlock", "OptimizedBlock"]

_M = TypeVar("_M", bound=nn.Module)
BN_EPS = 1e-3  # tfgan's batch_norm, which the published G uses (torch's default is 1e-5)


def _glorot(module: _M) -> _M:
    """The published initialisation: Glorot (Xavier) uniform weights, zero biases."""
    nn.init.xavier_uniform_(cast(torch.Tensor, module.weight))
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(cast(torch.Tensor, module.bias))
    return module


def sn_conv(c_in: int, c_out: int, kernel_size: int = 3, *, bias: bool = True) -> nn.Module:
    """A spectral-normalised convolution with 'same' padding.

    Examples
    --------
    >>> sn_conv(4, 8)(torch.zeros(1, 4, 5, 5)).shape
    torch.Size([1, 8, 5, 5])
    """
    conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias)
    return spectral_norm(_glorot(conv))


def sn_linear(d_in: int, d_out: int, *, bias: bool = True) -> nn.Module:
    """A spectral-normalised linear map.

    Examples
    --------
    >>> sn_linear(3, 2)(torch.zeros(4, 3)).shape
    torch.Size([4, 2])
    """
    return spectral_norm(_glorot(nn.Linear(d_in, d_out, bias=bias)))


def sn_embedding(num: int, dim: int) -> nn.Module:
    """A spectral-normalised embedding (the projection discriminator's class vectors).

    Examples
    --------
    >>> sn_embedding(10, 4)(torch.tensor([3])).shape
    torch.Size([1, 4])
    """
    return spectral_norm(_glorot(nn.Embedding(num, dim)))


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine, then per-class gain and bias: ``(1 + gain[y]) * x_hat + bias[y]``.

    Examples
    --------
    >>> bn = ConditionalBatchNorm2d(4, num_classes=3)
    >>> bn(torch.randn(2, 4, 5, 5), torch.tensor([0, 2])).shape
    torch.Size([2, 4, 5, 5])
    """

    def __init__(self, channels: int, *, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=BN_EPS)
        # zero-initialised so that every class starts at the identity transform
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = self.gain(y)[:, :, None, None]  # (b, c, 1, 1)
        b = self.bias(y)[:, :, None, None]
        return (1 + g) * self.bn(x) + b


class UpBlock(nn.Module):
    """G's residual block: CBN, ReLU, upsample x2, conv3x3, CBN, ReLU, conv3x3.

    The shortcut is upsample x2 then conv1x1.

    Examples
    --------
    >>> UpBlock(8, 4, num_classes=2)(torch.randn(2, 8, 4, 4), torch.tensor([0, 1])).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(self, c_in: int, c_out: int, *, num_classes: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, num_classes=num_classes)
        self.conv1 = sn_conv(c_in, c_out)
        self.bn2 = ConditionalBatchNorm2d(c_out, num_classes=num_classes)
        self.conv2 = sn_conv(c_out, c_out)
        self.shortcut = sn_conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """D's pre-activation residual block: ReLU, conv3x3, ReLU, conv3x3, avg-pool x2 (optional).

    The shortcut is conv1x1 then avg-pool, present when channels change or the block downsamples.

    Examples
    --------
    >>> DownBlock(4, 8)(torch.randn(2, 4, 8, 8)).shape
    torch.Size([2, 8, 4, 4])
    """

    def __init__(self, c_in: int, c_out: int, *, downsample: bool = True) -> None:
        super().__init__()
        self.conv1 = sn_conv(c_in, c_out)
        self.conv2 = sn_conv(c_out, c_out)
        self.downsample = downsample
        self.shortcut = sn_conv(c_in, c_out, 1) if c_in != c_out or downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        s = x if self.shortcut is None else self.shortcut(x)
        if self.downsample:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class OptimizedBlock(nn.Module):
    """D's first block: conv3x3, ReLU, conv3x3, avg-pool; shortcut avg-pool then conv1x1.

    No activation comes before the first convolution, since the input is the image itself.

    Examples
    --------
    >>> OptimizedBlock(3, 8)(torch.randn(2, 3, 8, 8)).shape
    torch.Size([2, 8, 4, 4])
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = sn_conv(c_in, c_out)
        self.conv2 = sn_conv(c_out, c_out)
        self.shortcut = sn_conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))
