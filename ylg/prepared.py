"""Image folders decoded once, into a memory-mapped uint8 array (``ylg prepare``).

A large folder (ImageNet: 1.28M JPEGs) is slow to decode and, at 128x128, 63 GB as uint8: too
much to decode at every start and to hold in each of 8 training processes. :func:`prepare`
decodes it once, with several processes, into a folder that :func:`ylg.data.load_data` then
memory-maps: training reads only the images of its batches, and the processes of a ``torchrun``
job share the pages through the operating system's cache. This module writes the folder;
:func:`ylg.data.load_prepared` (re-exported here) reads it, and only this module imports the other.

The prepared folder::

    prepared.json   what was prepared and how far (see :func:`prepare`)
    images.npy      uint8 (n_files, channels, res, res); the first ``count`` rows are the images
    labels.npy      int64 (n_files,); class indices, same rows

Preparation is resumable: it works in chunks, and after each chunk the arrays are flushed and
``prepared.json`` is replaced atomically, so a killed run loses at most one chunk and the same
command continues it. Unreadable files are skipped and listed, as for an image folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


import numpy as np

from ifg.errors import check_positive_int
from ylg.data import (_IMAGES, _LABELS, PREPARED_FORMAT, PREPARED_META, PREPARED_VERSION,
                      _check_channels, _read_meta, folder_files, load_prepared, read_image)
from ylg.errors import DataError
from ylg.runtime import atomic_write

__all__ = ["prepare", "load_prepared", "FORMAT", "VERSION"]

FORMAT, VERSION = PREPARED_FORMAT, PREPARED_VERSION  # the folder's format: ylg.data reads it
#: what must match for a preparation to continue: key of prepared.json, and its name in errors
_COMPARED = (("source", "source"), ("resolution", "resolution"), ("channels", "channels"),
             ("class_names", "class list"), ("files", "file count"), ("listing", "file list"))


def _listing_digest(root: Path, files: Sequence[tuple[Path, int]]) -> str:
    """A fingerprint of the file list (names relative to ``root``, classes): spots a changed
    source when a preparation is continued."""
    h = hashlib.sha256()
    for f, label in files:
        h.update(f"{f.relative_to(root).as_posix()}\0{label}\n".encode())
    return h.hexdigest()


def _write_meta(out: Path, meta: dict[str, Any]) -> None:
    atomic_write(out / PREPARED_META, json.dumps(meta, indent=1) + "\n")


def _reserve(path: Path) -> None:
    """Allocate the blocks of a (sparse) memory-mapped file now: a full disk is then an OSError
    here, not a SIGBUS in the middle of writing the map."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    finally:
        os.close(fd)


def _decode(job: tuple[Path, int, int]) -> np.ndarray | str:
    path, resolution, channels = job
    return read_image(path, resolution, channels)


def prepare(source: str | os.PathLike[str], out: str | os.PathLike[str], *, resolution: int,
            channels: int = 3, workers: int | None = None, chunk: int = 1024,
            progress: bool = False) -> dict[str, Any]:
    """Decode the image folder ``source`` into the prepared folder ``out`` (or continue it).

    Parameters
    ----------
    source : path
        An image folder: one subfolder per class, or flat (:func:`ylg.data.folder_files`).
    out : path
        Created if missing; an unfinished preparation of the same source and settings there is
        continued, a finished one is left as it is.
    resolution : int
        Side of the square images (centre crop, bicubic resize).
    channels : {1, 3}
    workers : int, optional
        Decoding processes (default: the CPUs this process may use). 1 decodes in-process.
    chunk : int
        Files per chunk; progress is saved after each.
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    dict
        The folder's ``prepared.json``: ``source``, ``resolution``, ``channels``,
        ``class_names``, ``files`` (found), ``done`` (files processed), ``count`` (images
        written), ``skipped`` (``[file, reason]`` pairs), ``complete``.

    Raises
    ------
    DataError
        When the source is missing or holds no readable image, or ``out`` holds something else
        (another source or other settings, or files that are not a prepared folder).

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> src, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "prep"
    >>> for name in ("cat", "dog"):
    ...     (src / name).mkdir()
    ...     PIL.Image.new("RGB", (40, 30), name == "cat" and "red" or "blue").save(
    ...         src / name / "a.png")
    >>> meta = prepare(src, out, resolution=8, workers=1)
    >>> meta["count"], meta["class_names"], meta["complete"]
    (2, ['cat', 'dog'], True)
    """
    source, out = Path(source), Path(out)
    resolution = check_positive_int("resolution", resolution)
    chunk = check_positive_int("chunk", chunk)
    _check_channels(channels)
    workers = check_positive_int("workers", workers if workers is not None
                                 else len(os.sched_getaffinity(0)))
    class_names, files = folder_files(source)
    if not files:
        raise DataError(f"no image file under {str(source)!r}")
    settings = {"format": FORMAT, "version": VERSION, "source": str(source.resolve()),
                "resolution": resolution, "channels": channels,
                "class_names": list(class_names), "files": len(files),
                "listing": _listing_digest(source, files)}
    n, shape = len(files), (len(files), channels, resolution, resolution)
    if (out / PREPARED_META).is_file():
        meta = _read_meta(out)
        differs = [what for k, what in _COMPARED if meta.get(k) != settings[k]]
        if differs:
            raise DataError(f"{str(out)!r} holds a preparation with another "
                            f"{', '.join(differs)}; choose a new output folder")
        if meta["complete"]:
            return meta
        try:  # the arrays a killed or broken run left: headers checked before the blocks
            images = np.lib.format.open_memmap(out / _IMAGES, mode="r+")
            labels = np.lib.format.open_memmap(out / _LABELS, mode="r+")
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{str(out)!r}: its arrays ({_IMAGES}, {_LABELS}) are unreadable "
                            f"({e}); choose a new output folder") from None
        if images.shape != shape or labels.shape != (n,) or images.dtype != np.uint8 \
                or labels.dtype != np.int64:
            raise DataError(f"{str(out)!r}: the arrays do not match {PREPARED_META}; choose a "
                            f"new output folder")
        _reserve(out / _IMAGES)
    else:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise DataError(f"{str(out)!r} exists and is not a prepared data folder; choose a "
                            f"new output folder")
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        try:
            images = np.lib.format.open_memmap(out / _IMAGES, mode="w+", dtype=np.uint8,
                                               shape=shape)
            _reserve(out / _IMAGES)
        except OSError as e:  # numpy's and fallocate's errors do not name the file
            # nothing is left: the same command runs once space is freed
            (out / _IMAGES).unlink(missing_ok=True)
            if made:
                out.rmdir()
            raise OSError(e.errno, e.strerror or str(e), str(out / _IMAGES)) from None
        labels = np.lib.format.open_memmap(out / _LABELS, mode="w+", dtype=np.int64,
                                           shape=(n,))
        meta = {**settings, "done": 0, "count": 0, "skipped": [], "complete": False}
        _write_meta(out, meta)

    from tqdm import tqdm

    pool = None
    if workers > 1 and n - meta["done"] > 1:
        import multiprocessing

        pool = multiprocessing.get_context().Pool(min(workers, n - meta["done"]),
                                                  initializer=_quiet_worker)
    bar = tqdm(total=n, initial=meta["done"], disable=not progress, unit="img",
               desc=f"prepare {source.name}", dynamic_ncols=True)
    # a SIGTERM ends the workers too (the finally below), then this process as SIGTERM does
    installed = _Terminated.install() if pool is not None else False
    try:
        while meta["done"] < n:
            part = files[meta["done"]:meta["done"] + chunk]
            jobs = [(f, resolution, channels) for f, _ in part]
            found = (pool.imap(_decode, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
                     if pool is not None else map(_decode, jobs))
            count, skipped = meta["count"], list(meta["skipped"])
            for (f, label), image in zip(part, found):
                if isinstance(image, str):
                    skipped.append([str(f), image])
                else:
                    images[count], labels[count] = image, label
                    count += 1
                bar.update(1)
            images.flush()
            labels.flush()
            meta = {**meta, "done": meta["done"] + len(part), "count": count,
                    "skipped": skipped}
            meta["complete"] = meta["done"] == n
            if meta["complete"] and count == 0:
                raise DataError(f"no readable image under {str(source)!r} "
                                f"({len(skipped)} unreadable file(s) skipped)")
            _write_meta(out, meta)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
        if installed:
            _Terminated.restore()
    return meta


def _quiet_worker() -> None:
    """A decoding worker leaves Ctrl-C to its parent (no traceback of each worker): the parent
    stops them (``Pool.terminate``)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Terminated(BaseException):
    """A SIGTERM during :func:`prepare`, raised so that its workers are ended first."""

    @classmethod
    def install(cls) -> bool:
        """Take SIGTERM (in the main thread, where it has its default action)."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread() \
                or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False  # a caller's own handling is kept

        def handler(signum: int, frame: object) -> None:
            raise cls()

        signal.signal(signal.SIGTERM, handler)
        return True

    @staticmethod
    def restore() -> None:
        """The default action back; after a SIGTERM (the workers ended), end as it does."""
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if sys.exc_info()[0] is _Terminated:
            signal.raise_signal(signal.SIGTERM)
