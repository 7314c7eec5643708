"""Masked 2-D attention: the layer and what runs it.

- :mod:`ylg.attention.layer`: :class:`Attention2d`, the SAGAN-style layer over an ``ifg.MaskSet``;
- :mod:`ylg.attention.plan`: the sparse backend's tile plan, compiled once from the masks;
- :mod:`ylg.attention.kernels`: the dense and tiled cores (the dense one is the reference);
- :mod:`ylg.attention.flex`: a mask set as a FlexAttention ``BlockMask``;
- :mod:`ylg.attention.auto`: what ``backend="auto"`` takes, from ``backend_table.json``;
- :mod:`ylg.attention.flexcpu`: :func:`flex_attention`, FlexAttention's call for any mask, with
  the tiled core forward and backward on a CPU.

>>> from ylg.attention import Attention2d
>>> Attention2d(16).backend
'dense'
"""

from ylg.attention.flex import FlexUnsupported, flex_mask
from ylg.attention.flexcpu import flex_attention
from ylg.attention.layer import Attention2d, mask_fingerprint
from ylg.choices import BACKENDS

__all__ = ["Attention2d", "BACKENDS", "FlexUnsupported", "flex_attention", "flex_mask",
           "mask_fingerprint"]
