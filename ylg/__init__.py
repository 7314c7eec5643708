"""ylg: the PyTorch stack of Your Local GAN, over mask sets that ``ifg`` designs and checks.

The names most users need are here; each is imported on first use (``import ylg`` itself costs
no torch import), so a program that needs one submodule pays for that one only:

- :class:`Attention2d`: the SAGAN-style attention layer over an ``ifg.MaskSet``
  (``docs/using-the-layer.md``);
- :class:`Generator`, :class:`Discriminator`: SAGAN and YLG-SAGAN at 32, 64 and 128;
- :class:`TrainConfig`: a training run's settings (``ylg.train.train(config)`` runs it in a
  folder, resumable);
- :func:`load_generator`: the generator of a checkpoint or an exported file
  (``ylg.sample.sample`` draws from it);
- :func:`flex_attention`: FlexAttention's call with a CPU backward, for any sparse mask
  (``docs/flex-attention.md``);
- :class:`DataError`, :class:`CheckpointError`: what a bad data set or checkpoint raises.

Evaluation (``ylg.metrics``), inversion (``ylg.invert``) and mask comparison
(``ylg.compare``) are subpackages.

>>> import ylg
>>> ylg.__version__ != ""
True
>>> ylg.TrainConfig(steps=10).steps
10
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version as _version
from typing import TYPE_CHECKING, Any

try:
    __version__ = _version("ylg-toolkit")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: public name -> the module it lives in (imported when the name is first read). ``train`` and
#: ``sample`` are not here: they are also the names of submodules, which would shadow them.
_HOMES = {
    "Attention2d": "ylg.attention",
    "Generator": "ylg.models.sagan",
    "Discriminator": "ylg.models.sagan",
    "TrainConfig": "ylg.config",
    "load_generator": "ylg.sample",
    "DataError": "ylg.errors",
    "CheckpointError": "ylg.errors",
    "flex_attention": "ylg.attention.flexcpu",
}

__all__ = ["__version__", "Attention2d", "Generator", "Discriminator", "TrainConfig",
           "load_generator", "DataError", "CheckpointError", "flex_attention"]

if TYPE_CHECKING:  # the type checker sees the real objects
    from ylg.attention import Attention2d
    from ylg.attention.flexcpu import flex_attention
    from ylg.config import TrainConfig
    from ylg.errors import CheckpointError, DataError
    from ylg.models.sagan import Discriminator, Generator
    from ylg.sample import load_generator


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later reads skip this function
        return value
    raise AttributeError(f"module 'ylg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
