"""DiffAugment (Zhao et al., 2020): differentiable augmentations applied to real and fake images
before the discriminator, so that D sees more variety when the data are few.

Each policy draws its own parameters per image from the given ``torch.Generator``; every operation
is differentiable in the images, so G's gradient passes through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from ylg.choices import AUGMENTATIONS, parse_policy

__all__ = ["POLICIES", "diff_augment", "parse_policy"]


def _uniform(x: torch.Tensor, generator: torch.Generator | None, low: float,
             high: float) -> torch.Tensor:
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)
    return low + (high - low) * u  # (b, 1, 1, 1)


def color(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5)."""
    x = x + _uniform(x, generator, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, generator, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, generator, 0.5, 1.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator | None,
                ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + sh)  # (b, h, 1) into the padding
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + sw)  # (b, 1, w)
    padded = F.pad(x, (sw, sw, sh, sh))  # (b, c, h + 2sh, w + 2sw)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (b, c, h, w)


def cutout(x: torch.Tensor, generator: torch.Generator | None,
           ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the image's size at a random place per image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=generator, device=x.device)
    left = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=generator, device=x.device)
    r = torch.arange(h, device=x.device)[None, :, None] - top + ch // 2  # (b, h, 1)
    c = torch.arange(w, device=x.device)[None, None, :] - left + cw // 2  # (b, 1, w)
    keep = ~((r >= 0) & (r < ch) & (c >= 0) & (c < cw))  # (b, h, w)
    return x * keep[:, None].to(x.dtype)


#: policy name -> function (x, generator) -> x
POLICIES: dict[str, Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]] = dict(
    zip(AUGMENTATIONS, (color, translation, cutout)))  # the names' one list is ylg.choices'



def diff_augment(x: torch.Tensor, policy: str | Iterable[str], *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policies in order to images ``x`` of shape ``(b, c, h, w)``.

    Examples
    --------
    >>> x = torch.ones(2, 1, 8, 8)
    >>> y = diff_augment(x, ("cutout",), generator=torch.Generator().manual_seed(0))
    >>> y.shape, bool((y.sum(dim=(1, 2, 3)) < 64).all())
    (torch.Size([2, 1, 8, 8]), True)
    """
    names = parse_policy(policy if isinstance(policy, str) else ",".join(policy))
    for name in names:
        x = POLICIES[name](x, generator)
    return x.contiguous()
