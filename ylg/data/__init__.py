"""Training data: sources (:mod:`ylg.data.sources`), one image file decoded
(:mod:`ylg.data.images`), the prepared folder written and read (:mod:`ylg.data.prepared`),
and DiffAugment (:mod:`ylg.data.augment`). :func:`load_data` reads any of them.
"""

from __future__ import annotations

import os
from pathlib import Path

from ylg.data.photographs import photos
from ylg.data.images import centre_square, decode_image, read_image
from ylg.data.prepared import PREPARED_META, load_prepared, prepare
from ylg.data.sources import (DIGIT_NAMES, DIGITS_TEST_SIZE, IMAGE_SUFFIXES, MAX_CLASSES, ImageData, Split,
                              digits, folder_files, from_model_range, image_folder, npz_arrays,
                              to_model_range)
from ylg.errors import DataError

__all__ = ["ImageData", "Split", "DIGIT_NAMES", "DIGITS_TEST_SIZE", "IMAGE_SUFFIXES", "MAX_CLASSES",
           "PREPARED_META", "load_data", "digits", "photos", "centre_square", "decode_image",
           "image_folder", "folder_files", "read_image", "npz_arrays", "load_prepared", "prepare",
           "to_model_range", "from_model_range"]


def load_data(spec: str | os.PathLike[str] = "digits", *, resolution: int = 32,
              channels: int | None = None, split: Split = "train") -> ImageData:
    """The data set named by ``spec``: ``digits``, ``photos``, a folder, a prepared folder, or an
    ``.npz``.

    ``digits`` and ``photos`` (crops of the photographs inside scikit-image's wheel,
    :mod:`ylg.data.photos`) come with a held-out test split; the other sources are read whole.

    A prepared folder (written by :func:`ylg.data.prepared.prepare`, ``ylg prepare``) is memory-mapped,
    not read: its resolution must be ``resolution``, and its channels ``channels`` when given.

    ``channels=None`` keeps the source's own (digits 1, photos and folders 3, npz as stored).

    Examples
    --------
    >>> load_data("digits", resolution=8, split="test").images.shape
    torch.Size([297, 1, 8, 8])
    """
    if str(spec) == "digits":
        return digits(resolution=resolution, split=split, channels=channels or 1)
    if str(spec) == "photos":
        return photos(resolution=resolution, split=split, channels=channels or 3)
    path = Path(spec)
    if path.is_dir() and (path / PREPARED_META).is_file():
        return load_prepared(path, resolution=resolution, channels=channels)
    if path.is_dir():
        return image_folder(path, resolution=resolution, channels=channels or 3)
    if path.suffix == ".npz" and path.is_file():
        return npz_arrays(path, resolution=resolution, channels=channels)
    raise DataError(f"data {str(spec)!r} is neither 'digits', 'photos', a folder, nor an existing .npz file")
