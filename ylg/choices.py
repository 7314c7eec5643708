"""The names a model setting may take, without torch: attention backends and variants.

``ylg train``'s options list them as choices when the program starts, so that ``ylg --help``
imports no torch; :mod:`ylg.attention` and :mod:`ylg.models` re-export them.

>>> BACKENDS
('auto', 'dense', 'sparse', 'flex')
>>> attention_variants()[:4]
('none', 'dense', 'dense8', 'ylg')
"""

from __future__ import annotations

from ifg.maskset import PRESETS

__all__ = ["BACKENDS", "ATTENTION_VARIANTS", "attention_variants"]

#: how a masked attention layer runs (:class:`ylg.attention.Attention2d`)
BACKENDS = ("auto", "dense", "sparse", "flex")

#: the named attention variants and their number of dense heads (``none``: no layer)
ATTENTION_VARIANTS = {"none": 0, "dense": 1, "dense8": 8}


def attention_variants() -> tuple[str, ...]:
    """The attention names a model accepts: the dense variants and the mask presets.

    Examples
    --------
    >>> attention_variants()[:4]
    ('none', 'dense', 'dense8', 'ylg')
    """
    return (*ATTENTION_VARIANTS, *PRESETS)
