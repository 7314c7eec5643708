"""SAGAN and YLG-SAGAN at 32x32, 64x64 and 128x128 from one definition (SPEC section 7).

The generator maps ``(z, y)`` to an image in [-1, 1]; the discriminator maps ``(x, y)`` to one
logit per image (a projection discriminator). One attention layer sits in each network at the
same feature grid, ``attention_resolution`` (the paper: 32x32 in the 128x128 model). The attention
variant is a constructor argument:

========== =====================================================
``none``   no attention layer (an ablation)
``dense``  SAGAN: one dense head
``dense8`` the "SAGAN, 8 heads" baseline: eight dense heads
``ylg``    YLG: the paper's 8 sparse heads, built by ``ifg.maskset.preset`` at the model's grids
           (any name of ``ifg.maskset.PRESETS`` works, e.g. ``ylg-no-esa``)
a MaskSet  YLG with given masks, one head per mask (a mask file is read once, by
           ``ylg.models.build.read_attention``, never here)
========== =====================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast


import torch
import torch.nn.functional as F
from torch import nn

from ifg.errors import InvalidArgument
from ifg.maskset import PRESETS, MaskSet, preset
from ylg.choices import (ATTENTION_VARIANTS, attention_resolutions, attention_variants,
                         check_resolution)
from ylg.models.layers import (BN_EPS, DownBlock, OptimizedBlock, UpBlock, set_sn_constraint,
                               sn_conv, sn_embedding, sn_linear)

if TYPE_CHECKING:
    from ylg.attention import Attention2d

__all__ = ["ARCHITECTURES", "ATTENTION_VARIANTS", "Generator", "Discriminator",
           "attention_resolutions", "attention_variants", "resolve_masks"]

#: resolution -> (G: channel multipliers of the 4x4 input and of each up-block,
#:                D: multiplier of the first block, then (multiplier, downsample) per block,
#:                the default attention resolution). Channels are ``width * multiplier``.
ARCHITECTURES = {
    32: ((4, 4, 4, 4), (4, ((4, True), (4, False), (4, False))), 16),
    64: ((16, 8, 4, 2, 1), (1, ((2, True), (4, True), (8, True), (16, False))), 32),
    128: ((16, 16, 8, 4, 2, 1),
          (1, ((2, True), (4, True), (8, True), (16, True), (16, False))), 32),
}

def _fitting_grids(resolution: int, attention_resolution: int,
                   pool: int) -> tuple[tuple[int, int], tuple[int, int]]:
    a = attention_resolution
    return (a, a), (a // pool, a // pool)


def resolve_masks(attention: str | MaskSet, *, resolution: int,
                  attention_resolution: int | None = None,
                  pool: int = 2) -> tuple[int, MaskSet | None]:
    """Check an attention variant against a model and return ``(heads, MaskSet or None)``.

    Parameters
    ----------
    attention : {"none", "dense", "dense8", "ylg", ...} or MaskSet
        A preset name builds its masks at the fitting grids.
    resolution : int
        The image resolution, 32, 64 or 128.
    attention_resolution : int, optional
        The feature grid of the attention layer (default: the architecture's).
    pool : int
        Keys and values are max-pooled by this factor.

    Returns
    -------
    (int, MaskSet or None)
        The number of heads (0 for ``none``) and the mask set.

    Raises
    ------
    InvalidArgument
        For an unknown variant, or a mask set whose grids do not fit; the message names the
        grids that would fit.

    Examples
    --------
    >>> from ifg.maskset import preset
    >>> resolve_masks("dense8", resolution=32)
    (8, None)
    >>> ms = preset("ylg", key_grid=(8, 8), query_grid=(16, 16))
    >>> resolve_masks(ms, resolution=32)[0]
    8
    """
    check_resolution(resolution)
    a = ARCHITECTURES[resolution][2] if attention_resolution is None else attention_resolution
    if a not in attention_resolutions(resolution):
        raise InvalidArgument(
            f"attention_resolution must be one of "
            f"{', '.join(map(str, attention_resolutions(resolution)))} for a {resolution}x"
            f"{resolution} model, got {a!r}")
    if isinstance(attention, str) and attention in ATTENTION_VARIANTS:
        return ATTENTION_VARIANTS[attention], None
    query_grid, key_grid = _fitting_grids(resolution, a, pool)
    if isinstance(attention, str) and attention in PRESETS:
        masks = preset(attention, key_grid=key_grid, query_grid=query_grid)
        return masks.num_heads, masks
    if not isinstance(attention, MaskSet):
        raise InvalidArgument(f"attention must be one of {', '.join(attention_variants())} or a "
                              f"MaskSet (read a mask file with ylg.models.build.read_attention), "
                              f"got {attention!r}")
    if tuple(attention.query_grid) != query_grid or tuple(attention.key_grid) != key_grid:
        fmt = "{0[0]}x{0[1]}".format
        hint = ""
        (qh, qw), (kh, kw) = attention.query_grid, attention.key_grid
        if qh == qw and qh in attention_resolutions(resolution) and (kh, kw) == (qh // pool,) * 2:
            hint = f", or attention_resolution={qh} for these masks"
        raise InvalidArgument(
            f"the mask set's grids (query {fmt(attention.query_grid)}, key "
            f"{fmt(attention.key_grid)}) do not fit a {resolution}x{resolution} model with "
            f"attention at {a}x{a} and pool {pool}: it needs query grid {fmt(query_grid)} and key "
            f"grid {fmt(key_grid)}{hint}")
    return attention.num_heads, attention


def _attention_layer(channels: int, heads: int, masks: MaskSet | None, *, pool: int,
                     backend: str, where: str) -> Attention2d | None:
    if heads == 0:
        return None
    if channels % (8 * heads):
        raise InvalidArgument(
            f"{where} has {channels} channels at the attention layer; {heads} head(s) need a "
            f"multiple of {8 * heads} channels (raise width)")
    from ylg.attention import Attention2d

    # the backend choice concerns masked layers; a dense layer has one way to run
    return Attention2d(channels, masks=masks, heads=heads, pool=pool,
                       backend=backend if masks is not None else "auto")


class Generator(nn.Module):
    """SAGAN's generator: ``z -> linear -> 4x4 -> residual up-blocks (+ attention) -> image``.

    Parameters
    ----------
    resolution : {32, 64, 128}
    width : int
        The channel multiplier (the paper's 64); channels are ``width * multiplier``.
    num_classes : int
    channels : int
        Image channels (1 grey, 3 colour).
    z_dim : int
    attention : str or MaskSet
        See the module docstring.
    attention_resolution : int, optional
    pool : int
    backend : str
        Passed to :class:`ylg.attention.Attention2d`.
    sn_constraint : {"inequality", "equality"}
        Spectral norm of the convolutions, linear maps and embedding: ``W / max(1, sigma)`` as
        published, or ``W / sigma`` (:func:`ylg.models.layers.spectral_norm`); the attention's
        1x1 convolutions divide by sigma either way.

    Examples
    --------
    >>> g = Generator(resolution=32, width=16, num_classes=10, channels=1)
    >>> g(torch.randn(2, 128), torch.tensor([0, 9])).shape
    torch.Size([2, 1, 32, 32])
    """

    def __init__(self, *, resolution: int = 32, width: int = 64, num_classes: int = 10,
                 channels: int = 3, z_dim: int = 128, attention: str | MaskSet = "dense",
                 attention_resolution: int | None = None, pool: int = 2, backend: str = "auto",
                 sn_constraint: str = "inequality") -> None:
        super().__init__()
        heads, masks = resolve_masks(attention, resolution=resolution,
                                     attention_resolution=attention_resolution, pool=pool)
        mults, _, default_a = ARCHITECTURES[resolution]
        self.resolution = resolution
        self.attention_resolution = attention_resolution or default_a
        c = [width * m for m in mults]
        self.z_dim, self.num_classes, self.channels = z_dim, num_classes, channels
        self.linear = sn_linear(z_dim, 4 * 4 * c[0])
        self.blocks = nn.ModuleList(UpBlock(a, b, num_classes=num_classes)
                                    for a, b in zip(c[:-1], c[1:]))
        # the attention follows the block whose output is attention_resolution wide
        self.attention_after = (self.attention_resolution // 4).bit_length() - 2
        self.attention = _attention_layer(c[self.attention_after + 1], heads, masks, pool=pool,
                                          backend=backend, where="the generator")
        self.bn = nn.BatchNorm2d(c[-1], eps=BN_EPS)
        self.conv = sn_conv(c[-1], channels)
        set_sn_constraint(self, sn_constraint)

    def forward(self, z: torch.Tensor, y: torch.Tensor, *, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Images ``(b, channels, res, res)`` in [-1, 1] (and the attention maps, if asked)."""
        h = self.linear(z).reshape(z.shape[0], -1, 4, 4)  # (b, c0, 4, 4)
        attn = None
        for i, block in enumerate(self.blocks):
            h = block(h, y)
            if i == self.attention_after and self.attention is not None:
                h = self.attention(h, return_attention=return_attention)
                if return_attention:
                    h, attn = h
        x = torch.tanh(self.conv(F.relu(self.bn(h))))
        return (x, attn) if return_attention else x


class Discriminator(nn.Module):
    """SAGAN's projection discriminator: residual down-blocks (+ attention), ReLU, sum, linear.

    The logit is ``linear(h) + <h, embed(y)>`` with ``h`` the globally summed features.

    Parameters
    ----------
    As :class:`Generator`, without ``z_dim``.

    Examples
    --------
    >>> d = Discriminator(resolution=32, width=16, num_classes=10, channels=1)
    >>> d(torch.randn(2, 1, 32, 32), torch.tensor([0, 9])).shape
    torch.Size([2])
    """

    def __init__(self, *, resolution: int = 32, width: int = 64, num_classes: int = 10,
                 channels: int = 3, attention: str | MaskSet = "dense",
                 attention_resolution: int | None = None, pool: int = 2, backend: str = "auto",
                 sn_constraint: str = "inequality") -> None:
        super().__init__()
        heads, masks = resolve_masks(attention, resolution=resolution,
                                     attention_resolution=attention_resolution, pool=pool)
        _, (first, rest), default_a = ARCHITECTURES[resolution]
        self.attention_resolution = attention_resolution or default_a
        self.num_classes, self.channels = num_classes, channels
        c = width * first
        blocks: list[nn.Module] = [OptimizedBlock(channels, c)]
        grid = resolution // 2
        after = 0 if grid == self.attention_resolution else None
        for mult, down in rest:
            blocks.append(DownBlock(c, width * mult, downsample=down))
            c, grid = width * mult, grid // 2 if down else grid
            if after is None and grid == self.attention_resolution:
                after = len(blocks) - 1
        assert after is not None  # resolve_masks checked attention_resolution against the grids
        self.attention_after: int = after
        self.blocks = nn.ModuleList(blocks)
        c_attn = cast(nn.Conv2d, self.blocks[self.attention_after].conv2).out_channels

        self.attention = _attention_layer(c_attn, heads, masks, pool=pool, backend=backend,
                                          where="the discriminator")
        self.linear = sn_linear(c, 1)
        self.embed = sn_embedding(num_classes, c)
        set_sn_constraint(self, sn_constraint)

    def features_before_attention(self, x: torch.Tensor) -> torch.Tensor:
        """``D0(x)``: the features entering D's attention, ``(b, c, a, a)`` (for inversion)."""
        for block in self.blocks[:self.attention_after + 1]:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor, y: torch.Tensor, *, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """One logit per image, ``(b,)`` (and the attention maps, if asked)."""
        h = self.features_before_attention(x)
        attn = None
        if self.attention is not None:
            h = self.attention(h, return_attention=return_attention)
            if return_attention:
                h, attn = h
        for block in self.blocks[self.attention_after + 1:]:
            h = block(h)
        h = F.relu(h).sum(dim=(2, 3))  # (b, c)
        logit = self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
        return (logit, attn) if return_attention else logit
