"""The FID Inception v3 as a PyTorch module, to read the ``pt_inception-2015-12-05`` state file.

The layout (module names, shapes) is torchvision's ``Inception3`` with 1,008 classes and no
auxiliary head, with the FID variant's three differences from torchvision's blocks, all from the
2015-12-05 TensorFlow graph: the average pools inside the A, C and first E blocks leave the
padding out of their means (TensorFlow's ``SAME`` average pool), and the last E block pools by
maximum. Only :func:`ylg.metrics.inception.load_inception_logits` uses it; the FID features come
from the TorchScript network of :mod:`ylg.metrics.inception`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from torch import nn

__all__ = ["InceptionV3"]


class _Conv(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3, TensorFlow's), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 average, stride 1, over the pixels inside the image only (TensorFlow ``SAME``)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):  # 35x35: 1x1, 5x5, double 3x3, pool
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1 = _Conv(cin, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)), double,
                          self.branch_pool(_avg_pool(x))], 1)


class _BlockB(nn.Module):  # 35x35 -> 17x17
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, 3, stride=2)], 1)


class _BlockC(nn.Module):  # 17x17: factorised 7x7
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row: dict[str, Any] = dict(kernel=(1, 7), padding=(0, 3))
        col: dict[str, Any] = dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, **row)
        self.branch7x7_3 = _Conv(c7, 192, **col)
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, **col)
        self.branch7x7dbl_3 = _Conv(c7, c7, **row)
        self.branch7x7dbl_4 = _Conv(c7, c7, **col)
        self.branch7x7dbl_5 = _Conv(c7, 192, **row)
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for i in range(1, 6):
            double = getattr(self, f"branch7x7dbl_{i}")(double)
        return torch.cat([self.branch1x1(x), single, double, self.branch_pool(_avg_pool(x))], 1)


class _BlockD(nn.Module):  # 17x17 -> 8x8
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = _Conv(cin, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = x
        for i in range(1, 5):
            seven = getattr(self, f"branch7x7x3_{i}")(seven)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), seven,
                          F.max_pool2d(x, 3, stride=2)], 1)


class _BlockE(nn.Module):  # 8x8: split 3x3
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
                          self.branch_pool(pool)], 1)


class InceptionV3(nn.Module):
    """Inception v3 (FID variant) from ``(n, 3, 299, 299)`` in [-1, 1] to pool features and logits.

    ``forward`` returns the 2048-d pool features ``(n, 2048)``; :meth:`logits` the 1,008 class
    logits ``(n, 1008)`` with or without the fc bias.

    Examples
    --------
    >>> net = InceptionV3()
    >>> sorted(net.state_dict())[:2], tuple(net.fc.weight.shape)
    (['Conv2d_1a_3x3.bn.bias', 'Conv2d_1a_3x3.bn.num_batches_tracked'], (1008, 2048))
    """

    def __init__(self, num_classes: int = 1008) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = (_BlockA(192, 32), _BlockA(256, 64),
                                                       _BlockA(288, 64))
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b, self.Mixed_6c = _BlockC(768, 128), _BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = _BlockC(768, 160), _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b, self.Mixed_7c = _BlockE(1280, max_pool=False), _BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (n, 64, 147, 147)
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)  # (n, 192, 35, 35)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)  # ... (n, 768, 17, 17) ... (n, 2048, 8, 8)
        return x.mean(dim=(2, 3))  # (n, 2048)

    def logits(self, x: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
        """The class logits ``(n, 1008)``; ``bias=False``: the original Inception Score's."""
        f = self(x)
        return F.linear(f, self.fc.weight, self.fc.bias if bias else None)
