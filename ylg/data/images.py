"""Decoding one image file: every Pillow mode to 8 bits, centre-cropped and resized.

:mod:`ylg.data` reads image folders with it, :mod:`ylg.data.prepared` prepares them, and the
inversion (:mod:`ylg.invert.jobs`) reads its targets.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ylg.errors import DataError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["centre_square", "decode_image", "read_image"]


def centre_square(im: Image.Image, resolution: int) -> Image.Image:
    """A Pillow image centre-cropped to a square and resized (bicubic) to ``resolution``."""
    from PIL import Image

    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    im = im.crop((left, top, left + s, top + s))
    if s != resolution:
        im = im.resize((resolution, resolution), Image.Resampling.BICUBIC)
    return im


def decode_image(path: str | os.PathLike[str], resolution: int,
                 channels: int) -> tuple[np.ndarray, tuple[int, int], bool]:
    """One image file as uint8 ``(channels, res, res)``, its size and whether it was grey.

    Every Pillow mode is brought to 8 bits by its own range: 16-bit grey (``I;16``, ``I`` up to
    65535) is divided by 257, floating point grey (``F``) must be finite and in [0, 1] (scaled
    by 255) or [0, 255]; alpha is dropped (``RGBA``, ``LA``, ``P`` with transparency); ``CMYK``,
    ``P``, ``1`` are converted by Pillow. Then centre-cropped to a square and resized
    (:func:`centre_square`), as grey (luma) or RGB for ``channels`` 1 or 3.

    Returns
    -------
    image : numpy.ndarray, uint8, (channels, res, res), writable
    size : (int, int)
        The file's width and height.
    grey : bool
        Whether the file was a grey image.

    Raises
    ------
    DataError
        For a file that is not a regular file, an image over Pillow's pixel limit (a
        decompression bomb), or pixels outside their mode's range (NaN, negative, ...).
        Whatever else Pillow raises for a missing or broken file is raised.
    """
    import warnings

    from PIL import Image

    if not os.path.isfile(path):  # never block on a FIFO or read a device
        raise DataError(f"{str(path)!r} is not a regular file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                size, grey = im.size, im.mode in _GREY_MODES
                eight = _eight_bit(im, path)
                a = np.array(centre_square(eight.convert("L" if channels == 1 else "RGB"),
                                           resolution), dtype=np.uint8)

        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
            raise DataError(f"{str(path)!r}: {err} (a decompression bomb?)") from None
    return np.ascontiguousarray(a[None] if a.ndim == 2 else a.transpose(2, 0, 1)), size, grey


_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _eight_bit(im: Image.Image, path: str | os.PathLike[str]) -> Image.Image:
    """``im`` in a mode Pillow converts to L or RGB without clamping: 8 bits per channel."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise DataError(f"{str(path)!r}: the image holds NaN or infinite pixels")
        low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if low < 0:
            raise DataError(f"{str(path)!r}: mode {im.mode} pixels go down to {low:g}; expected "
                            "non-negative values")
        if im.mode == "F" and high <= 1:
            scale = 255.0
        elif high <= 255 and im.mode in ("I", "F"):
            scale = 1.0
        elif high <= 65535 and im.mode != "F":
            scale = 1 / 257  # 16 bits: 65535 -> 255
        else:
            raise DataError(f"{str(path)!r}: mode {im.mode} pixels reach {high:g}; expected "
                            "[0, 1] or [0, 255] (float) or [0, 65535] (integer)")
        return Image.fromarray(np.clip(np.rint(a * scale), 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        return im.convert("RGBA").convert("RGB")
    if im.mode in ("LA", "La", "PA"):
        return im.convert("L") if im.mode != "PA" else im.convert("RGB")
    return im


def read_image(path: str | os.PathLike[str], resolution: int, channels: int) -> np.ndarray | str:
    """One image file as uint8 ``(channels, res, res)`` (:func:`decode_image`), or the reason it
    cannot be read (str): any decoder failure is returned, not raised, so that one broken file
    does not stop a data set."""
    try:
        return decode_image(path, resolution, channels)[0]
    except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"
        return f"{type(e).__name__}: {e}"
