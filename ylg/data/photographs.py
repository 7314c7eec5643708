"""Photographs that ship offline: random crops of the pictures inside scikit-image's wheel.

``load_data("photos")`` reads them. The files come from the installed ``skimage/data`` folder
(found without importing scikit-image, never downloaded); the training crops come from
:data:`TRAIN_PHOTOS` and the test crops from the held-out :data:`TEST_PHOTOS`, so no test crop
shares a pixel with training. A crop's side is drawn log-uniformly between the resolution and
half the photograph's shorter side, at a uniform place, then resized (bilinear, antialiased) to
the resolution: textures and whole objects at many scales. Colour photographs are converted to
grey by luma for ``channels=1``; grey ones are repeated for ``channels=3``. One class, ``photo``.
The crops are a function of ``(seed, split)`` alone.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument, check_positive_int
from ylg.data.sources import ImageData
from ylg.errors import DataError

__all__ = ["TRAIN_PHOTOS", "TEST_PHOTOS", "PHOTO_COUNTS", "photos", "photo_folder"]

#: natural photographs and textures, colour then grey; the training crops come from these
TRAIN_PHOTOS = ("astronaut.png", "coffee.png", "motorcycle_left.png", "hubble_deep_field.jpg",
                "retina.jpg", "ihc.png", "camera.png", "brick.png", "grass.png", "moon.png")
#: held out: the test crops come from these alone (two colour, two grey)
TEST_PHOTOS = ("chelsea.png", "rocket.jpg", "gravel.png", "coins.png")
#: crops drawn per split by default
PHOTO_COUNTS = {"train": 4096, "test": 512}


def photo_folder() -> Path:
    """The ``data`` folder of the installed scikit-image (its own files, nothing downloaded).

    Raises
    ------
    DataError
        When scikit-image is not installed.
    """
    spec = importlib.util.find_spec("skimage")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError("--data photos reads the photographs inside scikit-image's wheel: "
                        "pip install scikit-image")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _read(path: Path, channels: int) -> torch.Tensor:
    """One photograph as floats ``(channels, h, w)`` in [0, 1]."""
    from PIL import Image

    if not path.is_file():
        raise DataError(f"{str(path)!r} is missing from the installed scikit-image")
    with Image.open(path) as im:
        a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255
    return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())


def photos(*, resolution: int = 32, split: str = "train", channels: int = 3,
           count: int | None = None, seed: int = 0) -> ImageData:
    """Random crops of scikit-image's photographs, training or held-out.

    Parameters
    ----------
    resolution : int
        The crops' side in pixels (at least 2).
    split : {"train", "test", "all"}
        ``train`` crops :data:`TRAIN_PHOTOS`, ``test`` the held-out :data:`TEST_PHOTOS`, ``all``
        both (training crops first).
    channels : {1, 3}
    count : int, optional
        How many crops (default :data:`PHOTO_COUNTS` of the split), spread evenly over the
        split's photographs.
    seed : int
        The crops are a function of ``(seed, split)``.

    Returns
    -------
    ImageData
        uint8 ``(count, channels, resolution, resolution)``, one class ``photo``, source
        ``photos:<split>``.

    Examples
    --------
    >>> d = photos(resolution=8, split="test", count=6)
    >>> d.images.shape, d.class_names, d.source
    (torch.Size([6, 3, 8, 8]), ('photo',), 'photos:test')
    """
    resolution = check_positive_int("resolution", resolution)
    if resolution < 2:
        raise InvalidArgument(f"resolution must be at least 2 for photos, got {resolution}")
    if split == "all":
        parts = [photos(resolution=resolution, split=s, channels=channels, seed=seed)
                 for s in PHOTO_COUNTS]
        return ImageData(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                         ("photo",), "photos:all")
    if split not in PHOTO_COUNTS:
        raise InvalidArgument(f"split must be train, test or all for photos, got {split!r}")
    if channels not in (1, 3):
        raise InvalidArgument(f"channels must be 1 or 3, got {channels!r}")
    count = check_positive_int("count", PHOTO_COUNTS[split] if count is None else count)
    names = TRAIN_PHOTOS if split == "train" else TEST_PHOTOS
    folder = photo_folder()
    rng = np.random.default_rng([int(seed), list(PHOTO_COUNTS).index(split)])
    per_photo = np.full(len(names), count // len(names))
    per_photo[: count % len(names)] += 1
    crops = []
    for name, k in zip(names, per_photo):
        if not k:
            continue
        image = _read(folder / name, channels)  # (c, h, w)
        h, w = image.shape[-2:]
        high = max(resolution, min(h, w) // 2)
        if min(h, w) < resolution:
            raise DataError(f"{name} ({w}x{h}) is smaller than the resolution {resolution}")
        sides = np.exp(rng.uniform(np.log(resolution), np.log(high + 1), size=k)).astype(int)
        sides = np.clip(sides, resolution, high)
        for s in sides:
            top, left = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))
            crop = image[None, :, top:top + s, left:left + s]
            if s != resolution:
                crop = F.interpolate(crop, size=(resolution, resolution), mode="bilinear",
                                     align_corners=False, antialias=True)
            crops.append(crop)
    x = (torch.cat(crops).clamp(0, 1) * 255).round().to(torch.uint8)
    return ImageData(x, torch.zeros(len(x), dtype=torch.long), ("photo",), f"photos:{split}")
