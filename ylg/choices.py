"""Every torch-free choice: attention backends and variants, resolutions, metrics, augmentations,
inversion methods; the one list of each, and the parsers that check a name against it.

``ylg``'s options list them as choices when the program starts, so that ``ylg --help`` imports
no torch; :mod:`ylg.config` depends on this module only, and :mod:`ylg.attention`,
:mod:`ylg.models`, :mod:`ylg.metrics`, :mod:`ylg.data.augment` and :mod:`ylg.invert` re-export
what they use.

>>> BACKENDS
('auto', 'dense', 'sparse', 'flex')
>>> attention_variants()[:4]
('none', 'dense', 'dense8', 'ylg')
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ifg.errors import InvalidArgument
from ifg.maskset import PRESETS

__all__ = ["BACKENDS", "ATTENTION_VARIANTS", "attention_variants", "RESOLUTIONS",
           "attention_resolutions", "check_resolution", "METRICS", "DEFAULT_METRICS",
           "parse_metrics", "OTHER_DATA_METRICS", "DIGITS_ONLY", "is_digits", "default_metrics",
           "check_domain", "AUGMENTATIONS", "parse_policy", "METHODS"]

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


#: the image resolutions of the models (:data:`ylg.models.ARCHITECTURES`)
RESOLUTIONS = (32, 64, 128)


def check_resolution(resolution: int) -> None:
    if resolution not in RESOLUTIONS:
        raise InvalidArgument(f"resolution must be one of {', '.join(map(str, RESOLUTIONS))}, "
                              f"got {resolution!r}")


def attention_resolutions(resolution: int) -> tuple[int, ...]:
    """The feature grids where both G and D can hold the attention layer.

    Examples
    --------
    >>> attention_resolutions(32), attention_resolutions(128)
    ((8, 16), (8, 16, 32, 64))
    """
    check_resolution(resolution)
    return tuple(2 ** k for k in range(3, resolution.bit_length() - 1))


METRICS = {
    "fid": "FID on the Inception (or --features) features",
    "kid": "KID (mean and std over subsets) on the same features",
    "precision": "improved precision (k=3) on the same features",
    "recall": "improved recall (k=3) on the same features",
    "density": "density (k=5) on the same features",
    "coverage": "coverage (k=5) on the same features",
    "domain-fid": "FID on the digits classifier's features (not comparable with published FIDs)",
    "domain-kid": "KID on the digits classifier's features",
    "domain-precision": "precision on the digits classifier's features",
    "domain-recall": "recall on the digits classifier's features",
    "domain-density": "density on the digits classifier's features",
    "domain-coverage": "coverage on the digits classifier's features",
    "accuracy": "the digits classifier's accuracy on conditional samples (asked-for classes)",
    "is": "Inception Score (mean and std over 10 splits) from the --inception-logits file",
}
_ALIASES = {"inception-score": "is", "inception_score": "is"}
#: what a CPU finishes in about a minute; the Inception metrics are one flag away (``fid,kid``)
DEFAULT_METRICS = ("domain-fid", "domain-kid", "domain-precision", "domain-recall", "accuracy")


def parse_metrics(metrics: str | Iterable[str]) -> tuple[str, ...]:
    """Metric names from ``"fid,kid"`` or a sequence; checked against :data:`METRICS`.

    Raises
    ------
    InvalidArgument
        For an unknown name.

    Examples
    --------
    >>> parse_metrics("fid, domain-fid,fid")
    ('fid', 'domain-fid')
    """
    given = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = tuple(dict.fromkeys(_ALIASES.get(n, n) for n in (str(n).strip().lower() for n in given)
                                if n))
    for name in names:
        if name not in METRICS:
            raise InvalidArgument(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    if not names:
        raise InvalidArgument("metrics must name at least one metric")
    return names


#: the default for data that are not the digits: the digits classifier cannot judge them
OTHER_DATA_METRICS = ("fid", "kid")
#: the metrics that judge images with the digits classifier
DIGITS_ONLY = ("accuracy", *(f"domain-{n}" for n in ("fid", "kid", "precision", "recall",
                                                       "density", "coverage")))


def is_digits(data: str | os.PathLike[str]) -> bool:
    """Whether ``data`` (a ``--data`` spec or an :class:`~ylg.data.ImageData` source) names the
    embedded digits, the only data the digits classifier can judge.

    Examples
    --------
    >>> is_digits("digits"), is_digits("digits:train"), is_digits("photos"), is_digits("runs/x")
    (True, True, False, False)
    """
    return str(data) == "digits" or str(data).startswith("digits:")


def default_metrics(data: str | os.PathLike[str]) -> tuple[str, ...]:
    """The metrics ``ylg evaluate`` and ``ylg train --eval-every`` take when none are named:
    the domain metrics (seconds on a CPU) for the digits, the Inception's FID and KID for any
    other data.

    Examples
    --------
    >>> default_metrics("digits")[:2], default_metrics("data/flowers")
    (('domain-fid', 'domain-kid'), ('fid', 'kid'))
    """
    return DEFAULT_METRICS if is_digits(data) else OTHER_DATA_METRICS


def check_domain(metrics: str | Iterable[str], data: str | os.PathLike[str]) -> tuple[str, ...]:
    """``metrics`` parsed (:func:`parse_metrics`), refused when one of them judges images with
    the digits classifier and ``data`` are not the digits.

    Raises
    ------
    InvalidArgument
        Naming those metrics, the data, and the metrics that measure them.

    Examples
    --------
    >>> check_domain("fid,accuracy", "digits:train")
    ('fid', 'accuracy')
    >>> check_domain("domain-fid", "photos:train")
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: domain-fid judge images with the digits classifier, and the data 'photos:train' are not the digits: use fid,kid (the Inception network, offline; minutes on a CPU)
    """
    names = parse_metrics(metrics)
    wrong = [n for n in names if n in DIGITS_ONLY]
    if wrong and not is_digits(data):
        raise InvalidArgument(f"{','.join(wrong)} judge images with the digits classifier, and "
                              f"the data {str(data)!r} are not the digits: use "
                              f"{','.join(OTHER_DATA_METRICS)} (the Inception network, offline;"
                              f" minutes on a CPU)")
    return names


def parse_policy(text: str | None) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> the names, checked; ``""`` -> no augmentation.

    Examples
    --------
    >>> parse_policy("color, cutout")
    ('color', 'cutout')
    """
    names = tuple(n.strip() for n in str(text or "").split(",") if n.strip())
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise InvalidArgument(f"unknown DiffAugment policy {unknown[0]!r} "
                              f"(known: {', '.join(AUGMENTATIONS)})")
    return names


#: the DiffAugment policies (:mod:`ylg.data.augment`), applied in the order given
AUGMENTATIONS = ("color", "translation", "cutout")

#: the inversion objectives (:func:`ylg.invert.invert`)
METHODS = ("pixel", "discriminator", "ylg")
