"""The building blocks of SAGAN's generator and discriminator (SPEC section 7).

Every weight of a convolution, linear map or embedding is spectral-normalised. The class-conditional
BatchNorm's per-class gain and bias are normalisation parameters (like BatchNorm's affine), not the
weights of a linear map, and are left plain, as in the official code.
"""

import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["sn_conv", "sn_linear", "sn_embedding", "ConditionalBatchNorm2d", "UpBlock", "DownBlock",
           "OptimizedBlock"]


def sn_conv(c_in, c_out, kernel_size=3, *, bias=True):
    """A spectral-normalised convolution with 'same' padding.

    Examples
    --------
    >>> sn_conv(4, 8)(torch.zeros(1, 4, 5, 5)).shape
    torch.Size([1, 8, 5, 5])
    """
    return spectral_norm(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias))


def sn_linear(d_in, d_out, *, bias=True):
    """A spectral-normalised linear map.

    Examples
    --------
    >>> sn_linear(3, 2)(torch.zeros(4, 3)).shape
    torch.Size([4, 2])
    """
    return spectral_norm(nn.Linear(d_in, d_out, bias=bias))


def sn_embedding(num, dim):
    """A spectral-normalised embedding (the projection discriminator's class vectors).

    Examples
    --------
    >>> sn_embedding(10, 4)(torch.tensor([3])).shape
    torch.Size([1, 4])
    """
    return spectral_norm(nn.Embedding(num, dim))


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine, then per-class gain and bias: ``(1 + gain[y]) * x_hat + bias[y]``.

    Examples
    --------
    >>> bn = ConditionalBatchNorm2d(4, num_classes=3)
    >>> bn(torch.randn(2, 4, 5, 5), torch.tensor([0, 2])).shape
    torch.Size([2, 4, 5, 5])
    """

    def __init__(self, channels, *, num_classes):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        # zero-initialised so that every class starts at the identity transform
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x, y):
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

    def __init__(self, c_in, c_out, *, num_classes):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, num_classes=num_classes)
        self.conv1 = sn_conv(c_in, c_out)
        self.bn2 = ConditionalBatchNorm2d(c_out, num_classes=num_classes)
        self.conv2 = sn_conv(c_out, c_out)
        self.shortcut = sn_conv(c_in, c_out, 1)

    def forward(self, x, y):
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

    def __init__(self, c_in, c_out, *, downsample=True):
        super().__init__()
        self.conv1 = sn_conv(c_in, c_out)
        self.conv2 = sn_conv(c_out, c_out)
        self.downsample = downsample
        self.shortcut = sn_conv(c_in, c_out, 1) if c_in != c_out or downsample else None

    def forward(self, x):
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

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = sn_conv(c_in, c_out)
        self.conv2 = sn_conv(c_out, c_out)
        self.shortcut = sn_conv(c_in, c_out, 1)

    def forward(self, x):
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))
