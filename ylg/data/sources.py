"""Training data: the embedded digits, image folders and ``.npz`` arrays.

Every loader returns an :class:`ImageData`: uint8 images ``(n, c, res, res)`` and int64 labels,
held in memory (or memory-mapped, for a prepared folder). Images enter the models in [-1, 1]
(:func:`to_model_range`).

- ``digits`` (the default): scikit-learn's 1,797 handwritten digits (8x8, values 0..16, shipped
  inside scikit-learn, so nothing is downloaded), resized bilinearly to the resolution, 10
  classes. Grey, so 1 channel by default (``channels=3`` replicates it). A fixed stratified split
  (seed 0) keeps :data:`DIGITS_TEST_SIZE` images for testing that training never sees.
- an image folder: one subfolder per class (sorted names), or flat for one class; read with
  Pillow, centre-cropped to a square and resized (bicubic). Unreadable files are skipped and
  listed in ``ImageData.skipped``.
- an ``.npz`` with ``images`` (uint8 in 0..255 or floats in [0, 1]; ``(n, h, w)``, ``(n, h, w, c)``
  or ``(n, c, h, w)``) and optionally ``labels`` (int, ``(n,)``); resized like a folder.
- a prepared folder (written and read by :mod:`ylg.data.prepared`, ``ylg prepare``): an image folder decoded once, in
  parallel, into a memory-mapped uint8 array. For data too large to hold in every process
  (ImageNet at 128x128 is 63 GB): processes share the pages through the operating system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument, check_positive_int
from ylg.errors import DataError
from ylg.data.images import centre_square, decode_image, read_image

__all__ = ["ImageData", "DIGIT_NAMES", "DIGITS_TEST_SIZE", "IMAGE_SUFFIXES", "MAX_CLASSES",
           "digits", "centre_square", "decode_image", "image_folder", "folder_files", "read_image",
           "npz_arrays", "check_channels", "to_model_range", "from_model_range"]

#: the digits' class names (a checkpoint stores them: ``ylg sample --classes seven,three``)
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_TEST_SIZE = 297  # of 1,797: leaves 1,500 training images
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
#: a split of the digits (:func:`digits`)
Split = Literal["train", "test", "all"]


@dataclass(frozen=True, eq=False)
class ImageData:
    """Images and labels in memory.

    Attributes
    ----------
    images : torch.Tensor, uint8, (n, c, res, res)
    labels : torch.Tensor, int64, (n,)
    class_names : tuple of str
    source : str
        What was read (``digits:train``, a path).
    skipped : tuple of (str, str)
        Files that could not be read, with the reason.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    source: str
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    def __len__(self) -> int:
        return self.images.shape[0]


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 to floats in [-1, 1].

    Examples
    --------
    >>> to_model_range(torch.tensor([0, 255], dtype=torch.uint8)).tolist()
    [-1.0, 1.0]
    """
    x = images.to(torch.float32, copy=True)  # a copy even of float input, so that the
    return x.div_(127.5).sub_(1)              # in-place steps never touch the caller's tensor


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """Floats in [-1, 1] to uint8 images (clipped).

    Examples
    --------
    >>> from_model_range(torch.tensor([-1.0, 0.0, 1.0])).tolist()
    [0, 128, 255]
    """
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Float images ``(n, c, h, w)`` in [0, 1], centre-cropped to a square and resized."""
    h, w = images.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    images = images[..., top:top + s, left:left + s]
    if s != resolution:
        # antialias, so that shrinking averages rather than drops pixels
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear",
                               align_corners=False, antialias=s > resolution)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def _channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    if channels is None or images.shape[1] == channels:
        return images
    if channels == 3 and images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)  # ITU-R 601 luma
        return (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
    raise InvalidArgument(f"channels must be 1 or 3, got {channels!r}")


def digits(*, resolution: int = 32, split: Split = "train", channels: int = 1) -> ImageData:
    """scikit-learn's handwritten digits, resized, with the fixed train/test split.

    Parameters
    ----------
    resolution : int
    split : {"train", "test", "all"}
    channels : {1, 3}

    Returns
    -------
    ImageData
        1,500 training or 297 test images, 10 classes.

    Examples
    --------
    >>> d = digits(resolution=16)
    >>> len(d), d.images.shape[1:], d.num_classes
    (1500, torch.Size([1, 16, 16]), 10)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    resolution = check_positive_int("resolution", resolution)
    if split not in ("train", "test", "all"):
        raise InvalidArgument(f"split must be train, test or all, got {split!r}")
    bunch = load_digits()
    x = torch.from_numpy(bunch.images / 16.0).float()[:, None]  # (1797, 1, 8, 8) in [0, 1]
    y = torch.from_numpy(bunch.target).long()
    if split != "all":
        # stratified, seed 0: the same split on every machine and for every later tool
        train, test = train_test_split(np.arange(len(y)), test_size=DIGITS_TEST_SIZE,
                                       random_state=0, stratify=bunch.target)
        keep = torch.from_numpy(np.sort(train if split == "train" else test))
        x, y = x[keep], y[keep]
    images = _channels(_resize(x, resolution), channels)
    return ImageData(images, y, DIGIT_NAMES, f"digits:{split}")


def image_folder(path: str | os.PathLike[str], *, resolution: int = 32,
                 channels: int = 3) -> ImageData:
    """Images under ``path``: one subfolder per class, or flat for one class.

    Files whose suffix is an image suffix (:data:`IMAGE_SUFFIXES`) are read; those Pillow cannot
    read are skipped and listed in ``skipped``.

    Raises
    ------
    DataError
        When the folder is missing or holds no readable image.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> root = Path(tempfile.mkdtemp())
    >>> PIL.Image.new("RGB", (40, 30), "red").save(root / "a.png")
    >>> d = image_folder(root, resolution=8)
    >>> d.images.shape, d.num_classes
    (torch.Size([1, 3, 8, 8]), 1)
    """
    path = Path(path)
    resolution = check_positive_int("resolution", resolution)
    class_names, files = folder_files(path)
    check_channels(channels)
    images, labels, skipped = [], [], []
    for f, label in files:
        found = read_image(f, resolution, channels)
        if isinstance(found, str):
            skipped.append((str(f), found))
        else:
            images.append(found)
            labels.append(label)
    if not images:
        raise DataError(f"no readable image under {str(path)!r} "
                        f"({len(skipped)} unreadable file(s) skipped)")
    x = torch.from_numpy(np.stack(images))  # (n, c, h, w)
    return ImageData(x, torch.tensor(labels, dtype=torch.long), class_names, str(path),
                     tuple(skipped))


def folder_files(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """The classes and image files of a data folder, in a fixed order.

    One subfolder per class (sorted names; hidden ones ignored), or a flat folder of one class
    named after it. Files count when their suffix is in :data:`IMAGE_SUFFIXES`.

    Returns
    -------
    class_names : tuple of str
    files : list of (pathlib.Path, int)
        Each file with its class index, classes in order, files sorted by name within a class.

    Raises
    ------
    DataError
        When the folder does not exist.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"data folder {str(path)!r} does not exist")
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = [(d.name, d) for d in subdirs] or [(path.name, path)]
    files = [(f, label) for label, (_, folder) in enumerate(classes)
             for f in sorted(folder.iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
    return tuple(name for name, _ in classes), files


def check_channels(channels: object) -> None:
    if channels not in (1, 3):
        raise InvalidArgument(f"channels must be 1 or 3, got {channels!r}")


def npz_arrays(path: str | os.PathLike[str], *, resolution: int = 32,
               channels: int | None = None) -> ImageData:
    """Images (and labels) from an ``.npz`` file; see the module docstring for the layout.

    Raises
    ------
    DataError
        When the file cannot be read, lacks ``images``, or has no image.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "d.npz"
    >>> np.savez(f, images=np.zeros((5, 12, 12, 3), np.uint8), labels=np.arange(5) % 2)
    >>> d = npz_arrays(f, resolution=8)
    >>> d.images.shape, d.num_classes
    (torch.Size([5, 3, 8, 8]), 2)
    """
    from ylg.data.npzread import read_members

    path = Path(path)
    resolution = check_positive_int("resolution", resolution)
    if not path.is_file():  # never block on a FIFO or read a device
        raise DataError(f"{str(path)!r} is not a regular file")

    def check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Each member's declared size, before a byte of it is inflated: what it and the
        float32 copies made of it (read, resized) take must fit in memory."""
        from ylg.memory import check_memory

        count = int(np.prod(shape, dtype=object))
        n = shape[0] if shape else 1  # resized: at most 3 planes, twice (resize, channels)
        kept = count * (dtype.itemsize + 4) + n * 3 * resolution ** 2 * 4 * 2
        check_memory(f"reading {name!r} of {str(path)!r} ({'x'.join(map(str, shape))} "
                     f"{dtype})", kept if name == "images" else count * (dtype.itemsize + 8))

    arrays = read_members(path, ("images", "labels"), check)
    if "images" not in arrays:
        raise DataError(f"{str(path)!r} has no 'images' array (it has: {', '.join(arrays)})")
    x = arrays["images"]
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # (n, h, w, c) -> (n, c, h, w)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise DataError(f"{str(path)!r}: images must be a non-empty (n, h, w), (n, h, w, c) or "
                        f"(n, c, h, w) array with 1 or 3 channels, got shape {x.shape}")
    pixels = torch.from_numpy(_unit_range(x, path))
    y = arrays.get("labels")
    if y is None:
        y = np.zeros(len(x), np.int64)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise DataError(f"{str(path)!r}: labels must be {len(x)} non-negative integers, got "
                        f"shape {y.shape} dtype {y.dtype}")
    if int(y.max()) >= MAX_CLASSES:
        raise DataError(f"{str(path)!r}: labels reach {int(y.max())}; at most {MAX_CLASSES} "
                        "classes (labels 0..n-1) are supported")
    images = _channels(_resize(pixels, resolution), channels)
    return ImageData(images, torch.from_numpy(y.astype(np.int64)),
                     tuple(str(i) for i in range(int(y.max()) + 1)), str(path))


#: the most classes a data set may have (a label beyond it is a broken file, not a data set)
MAX_CLASSES = 100_000


def _unit_range(x: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """Images as float32 in [0, 1]: uint8 by 255, floats as they are if finite and in [0, 1]."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255
    if x.dtype.kind != "f":
        raise DataError(f"{str(path)!r}: images of dtype {x.dtype}; use uint8 in 0..255 or "
                        "floats in [0, 1] (16-bit images: images // 257 as uint8)")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{str(path)!r}: images hold NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise DataError(f"{str(path)!r}: float images must be in [0, 1], got "
                        f"[{float(x.min()):g}, {float(x.max()):g}]")
    return x
