"""TEMPORARY stand-in for ``ylg.attention`` (dense masked reference only).

The real layer is written on branch ``attention``; this file exists only so that the models and
training can be tested before it lands, and is replaced by it on merge.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["Attention2d"]


class Attention2d(nn.Module):
    """Multi-head 2-D self-attention with optional per-head boolean masks (SPEC section 6)."""

    def __init__(self, channels, masks=None, heads=1, pool=2, backend="auto"):
        super().__init__()
        if masks is not None:
            heads = masks.num_heads
            self.register_buffer("mask", torch.as_tensor(masks.to_dense()), persistent=False)
        else:
            self.mask = None
        self.heads, self.pool = heads, pool
        conv = lambda c_out: spectral_norm(nn.Conv2d(channels, c_out, 1, bias=False))  # noqa: E731
        self.query, self.key = conv(channels // 8), conv(channels // 8)
        self.value = conv(channels // 2)
        self.out = spectral_norm(nn.Conv2d(channels // 2, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x, return_attention=False):
        b, c, h, w = x.shape
        nh = self.heads
        q = self.query(x).reshape(b, nh, -1, h * w).transpose(2, 3)  # (b, nh, nq, d)
        k = F.max_pool2d(self.key(x), self.pool).reshape(b, nh, c // 8 // nh, -1)  # (b, nh, d, nk)
        v = F.max_pool2d(self.value(x), self.pool).reshape(b, nh, c // 2 // nh, -1)
        logits = q @ k  # (b, nh, nq, nk)
        if self.mask is not None:
            logits = logits.masked_fill(~self.mask, float("-inf"))
        attn = logits.softmax(-1)
        o = (v @ attn.transpose(2, 3)).reshape(b, c // 2, h, w)
        y = x + self.gamma * self.out(o)
        return (y, attn) if return_attention else y
