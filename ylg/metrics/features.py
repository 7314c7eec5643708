"""Feature extractors, their preprocessing, and the cache of real features.

A :class:`FeatureExtractor` turns images into feature vectors. Features of the real data are
cached per data set and extractor under :func:`cache_dir` (:func:`real_features`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from ifg.errors import InvalidArgument, YLGError, check_positive_int
from ylg.runtime import atomic_write

__all__ = ["MetricsError", "FeatureExtractor", "load_torchscript", "cache_dir", "cached_features",
           "real_features"]


class MetricsError(YLGError):
    """A feature extractor is missing, corrupt or unusable; the message says which and why."""


MetricsError.__module__ = "ylg.metrics"  # its public home


def unit_range(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 images in 0..255 or floats in [-1, 1] -> float32 in [0, 1], (n, c, h, w)."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InvalidArgument(f"images must be (n, c, h, w) with 1 or 3 channels, got shape "
                              f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255
    return ((images.float() + 1) / 2).clamp(0, 1)


def model_range(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Images -> float32 in [-1, 1], shape kept."""
    return unit_range(images) * 2 - 1


@dataclass(frozen=True, eq=False)
class FeatureExtractor:
    """A network from images to feature vectors, with the preprocessing it expects.

    Calling it on images ``(n, c, h, w)`` (uint8 in 0..255 or floats in [-1, 1]) returns float32
    features ``(n, d)``; a network output with more than 2 dimensions is averaged over the
    trailing ones.

    Attributes
    ----------
    name : str
        Names the network and its weights; part of the real-feature cache key.
    network : callable
        Prepared images -> features.
    prepare : callable
        Images -> the network's input (value range, channels, size).
    device : torch.device

    Examples
    --------
    >>> ex = FeatureExtractor("mean", lambda x: x.mean(dim=(2, 3)), model_range,
    ...                       torch.device("cpu"))
    >>> ex(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    name: str
    network: Callable[[torch.Tensor], torch.Tensor]
    prepare: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor | np.ndarray, *, batch_size: int = 50,
                 progress: bool = False, desc: str | None = None) -> np.ndarray:
        batch_size = check_positive_int("batch_size", batch_size)
        out = []
        with progress_bar(len(images), desc or f"features ({self.name})", progress) as bar:
            for start in range(0, len(images), batch_size):
                batch = torch.as_tensor(images[start:start + batch_size]).to(self.device)
                f = self.network(self.prepare(batch))
                f = f.flatten(2).mean(2) if f.ndim > 2 else f  # pool spatial outputs
                out.append(f.float().cpu().numpy())
                bar.update(len(batch))
        if not out:
            raise InvalidArgument("images must hold at least one image")
        return np.concatenate(out)


class progress_bar:
    """A tqdm bar on stderr when ``enabled``, else a no-op with the same ``update``."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)

    def __enter__(self) -> progress_bar:
        return self

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.close()


def file_sha256(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256, so that a process hashes the file once


def verified_sha256(path: Path, expected: str | None) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = file_sha256(path)
    if expected is not None and _VERIFIED[key] != expected:
        raise MetricsError(f"{str(path)!r} has sha256 {_VERIFIED[key]}, expected {expected}: "
                           f"the file is corrupt or not the FID Inception network")
    return _VERIFIED[key]


def load_script(path: str | os.PathLike[str],
                 device: str | torch.device) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():
            # torch marks TorchScript deprecated; the wheel ships only this format
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device).eval()
    except Exception as e:  # noqa: BLE001 - any load failure means "not a TorchScript file"
        reason = " ".join(str(e).split())[:160]
        raise MetricsError(f"cannot load {str(path)!r} as TorchScript: {type(e).__name__}: "
                           f"{reason}") from None


def load_torchscript(path: str | os.PathLike[str], *,
                     device: str | torch.device = "cpu") -> FeatureExtractor:
    """Any TorchScript feature extractor, fed the images as they are (floats in [-1, 1]).

    The network receives ``(n, c, h, w)`` float32 images in [-1, 1] at their own size and
    channels, and returns ``(n, d)`` features (or ``(n, d, ...)``, averaged to ``(n, d)``).

    Raises
    ------
    MetricsError
        When the file is missing or is not TorchScript.

    Examples
    --------
    >>> load_torchscript("no-such-file.pt")
    Traceback (most recent call last):
    ...
    ylg.metrics.MetricsError: feature extractor 'no-such-file.pt' does not exist
    """
    path = Path(path)
    if not path.is_file():
        from ylg.run.files import why_not_a_file

        raise MetricsError(f"feature extractor {str(path)!r} {why_not_a_file(path)}")
    device = torch.device(device)
    network = load_script(path, device)
    return FeatureExtractor(f"torchscript-{verified_sha256(path, None)[:12]}", network,
                            model_range, device)


def cache_dir() -> Path:
    """Where metrics cache real features and the digits classifier: ``$YLG_CACHE`` or
    ``~/.cache/ylg``.

    Examples
    --------
    >>> cache_dir().name in ("ylg", Path(os.environ.get("YLG_CACHE", "ylg")).name)
    True
    """
    return Path(os.environ.get("YLG_CACHE") or Path.home() / ".cache" / "ylg")


def _slug(text: object) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))[-60:]


def cached_features(extractor: FeatureExtractor, images: torch.Tensor | np.ndarray, *,
                    dataset: str, cache: str | os.PathLike[str] | None = None
                    ) -> tuple[np.ndarray | None, Path]:
    """The cached features of ``images`` (or None) and the cache file of :func:`real_features`.

    Examples
    --------
    >>> import tempfile
    >>> ex = FeatureExtractor("mean", lambda x: x.mean(dim=(2, 3)), model_range,
    ...                       torch.device("cpu"))
    >>> found, path = cached_features(ex, torch.zeros(3, 1, 4, 4), dataset="zeros",
    ...                               cache=tempfile.mkdtemp())
    >>> found is None, path.parent.name
    (True, 'features')
    """
    images = torch.as_tensor(images)
    h = hashlib.sha256(repr((tuple(images.shape), str(images.dtype))).encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    folder = (Path(cache) if cache is not None else cache_dir()) / "features"
    path = folder / f"{_slug(dataset)}-{h.hexdigest()[:16]}-{extractor.name}.npy"
    if path.is_file():
        try:
            features = np.load(path, allow_pickle=False)
            if features.ndim == 2 and len(features) == len(images):
                return features, path
        except (OSError, ValueError):
            pass  # an unreadable entry is recomputed
    return None, path


def real_features(extractor: FeatureExtractor, images: torch.Tensor | np.ndarray, *,
                  dataset: str, cache: str | os.PathLike[str] | None = None,
                  batch_size: int = 50, progress: bool = False) -> np.ndarray:
    """Features of real images, cached per data set and extractor.

    The cache file is named by ``dataset``, a hash of the images' bytes and the extractor's
    ``name`` (which names its weights), so changed data or weights never hit a stale entry.

    Parameters
    ----------
    extractor : FeatureExtractor
    images : torch.Tensor, (n, c, h, w)
    dataset : str
        A readable name for the file (``digits:train``, a path).
    cache : path, optional
        Default :func:`cache_dir`; files go in its ``features`` folder.

    Returns
    -------
    numpy.ndarray, float32, (n, d)

    Examples
    --------
    >>> import tempfile
    >>> ex = FeatureExtractor("mean", lambda x: x.mean(dim=(2, 3)), model_range,
    ...                       torch.device("cpu"))
    >>> folder = tempfile.mkdtemp()
    >>> images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    >>> real_features(ex, images, dataset="zeros", cache=folder).shape
    (3, 1)
    >>> sorted(p.name.startswith("zeros-") for p in (Path(folder) / "features").iterdir())
    [True]
    """
    found, path = cached_features(extractor, images, dataset=dataset, cache=cache)
    if found is not None:
        return found
    features = extractor(images, batch_size=batch_size, progress=progress,
                         desc=f"real features ({extractor.name})")
    atomic_write(path, lambda f: np.save(f, features))  # a reader sees no half file
    return features
