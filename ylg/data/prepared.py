"""Image folders decoded once, into a memory-mapped uint8 array (``ylg prepare``).

A large folder (ImageNet: 1.28M JPEGs) is slow to decode and, at 128x128, 63 GB as uint8: too
much to decode at every start and to hold in each of 8 training processes. :func:`prepare`
decodes it once, with several processes, into a folder that :func:`ylg.data.load_data` then
memory-maps: training reads only the images of its batches, and the processes of a ``torchrun``
job share the pages through the operating system's cache. This module writes the folder
and reads it (:func:`load_prepared`), so the format lives in one file.

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
import torch

from ifg.errors import check_positive_int
from ylg.data.images import read_image
from ylg.data.sources import MAX_CLASSES, ImageData, check_channels, folder_files
from ylg.errors import DataError
from ylg.runtime import atomic_write

__all__ = ["prepare", "load_prepared", "PREPARED_META", "FORMAT", "VERSION"]

#: the file that marks a folder written by :func:`ylg.data.prepared.prepare`
PREPARED_META = "prepared.json"
#: the prepared folder's format and version (in PREPARED_META), and its two arrays
PREPARED_FORMAT, PREPARED_VERSION = "ylg-prepared", 1
_IMAGES, _LABELS = "images.npy", "labels.npy"
FORMAT, VERSION = PREPARED_FORMAT, PREPARED_VERSION  # the folder's format, as written and read
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


#: the largest meta file read (its skipped-file list grows with the data set)
_MAX_META_BYTES = 256 * 2**20


def _read_meta(out: str | os.PathLike[str]) -> dict[str, Any]:
    where = Path(out) / PREPARED_META
    if not where.is_file():
        raise DataError(f"{str(out)!r} is not a prepared data folder (no regular file "
                        f"{PREPARED_META})")
    try:
        with open(where, "rb") as f:
            text = f.read(_MAX_META_BYTES + 1)
        if len(text) > _MAX_META_BYTES:
            raise DataError(f"{str(where)!r} is larger than {_MAX_META_BYTES:,} bytes")
        meta = json.loads(text)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {str(where)!r}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != PREPARED_FORMAT:
        raise DataError(f"{str(out)!r} is not a prepared data folder (no {PREPARED_FORMAT!r} in "
                        f"{PREPARED_META})")
    if meta.get("version") != PREPARED_VERSION:
        raise DataError(f"{str(out)!r} was prepared by format version {meta.get('version')!r}; "
                        f"this toolkit reads version {PREPARED_VERSION}")
    _check_meta(meta, out)
    return meta


def _check_meta(meta: dict[str, Any], out: str | os.PathLike[str]) -> None:
    """Every field's type and range, and the counts consistent with one another."""
    def bad(why: str) -> DataError:
        return DataError(f"{str(out)!r}: {PREPARED_META} is inconsistent: {why}")

    def integer(key: str, low: int, high: int) -> int:
        v = meta.get(key)
        if type(v) is not int or not low <= v <= high:
            raise bad(f"{key} is {v!r}, expected an integer in [{low}, {high}]")
        return v

    integer("resolution", 1, 65536)
    if meta.get("channels") not in (1, 3):
        raise bad(f"channels is {meta.get('channels')!r}, expected 1 or 3")
    files = integer("files", 1, 2**40)
    done = integer("done", 0, files)
    count = integer("count", 0, done)
    names, skipped = meta.get("class_names"), meta.get("skipped")
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_CLASSES or \
            not all(isinstance(n, str) and len(n) <= 1000 for n in names):
        raise bad("class_names must be a list of 1 to 100,000 names")
    if not isinstance(skipped, list) or not all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(y, str) for y in x)
            for x in skipped):
        raise bad("skipped must be a list of [file, reason] pairs")
    if count != done - len(skipped):
        raise bad(f"count {count:,} is not done {done:,} less {len(skipped):,} skipped files")
    if not isinstance(meta.get("complete"), bool) or meta["complete"] != (done == files):
        raise bad(f"complete is {meta.get('complete')!r} with {done:,} of {files:,} files done")



def load_prepared(path: str | os.PathLike[str], *, resolution: int | None = None,
                  channels: int | None = None) -> ImageData:
    """The images of a prepared folder, memory-mapped (nothing is read until indexed).

    ``resolution`` and ``channels``, when given, must be those it was prepared with.

    Raises
    ------
    DataError
        When the folder is not a finished preparation, or was prepared with other settings.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> from ylg.data.prepared import prepare
    >>> src, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "prep"
    >>> PIL.Image.new("L", (12, 12), 200).save(src / "a.png")
    >>> _ = prepare(src, out, resolution=4, channels=1, workers=1)
    >>> d = load_prepared(out, resolution=4)
    >>> d.images.shape, d.images[0, 0, 0, 0].item(), d.class_names == (src.name,)
    (torch.Size([1, 1, 4, 4]), 200, True)
    """
    path = Path(path)
    meta = _read_meta(path)
    if not meta.get("complete"):
        raise DataError(f"the preparation in {str(path)!r} stopped at {meta.get('done', 0):,} "
                        f"of {meta.get('files', 0):,} files; run `ylg prepare` again to finish it")
    for key, want in (("resolution", resolution), ("channels", channels)):
        if want is not None and int(want) != meta[key]:
            raise DataError(f"{str(path)!r} was prepared with {key} {meta[key]}, not {want}; "
                            f"prepare the source again with --{key} {want}")
    count = meta["count"]
    shape = (meta["files"], meta["channels"], meta["resolution"], meta["resolution"])
    for name, size in ((_IMAGES, int(np.prod(shape))), (_LABELS, 8 * meta["files"])):
        f = path / name
        if not f.is_file() or not size <= f.stat().st_size <= size + 65536:  # + the npy header
            raise DataError(f"{str(f)!r} is missing, not a regular file, or not the size "
                            f"{PREPARED_META} implies ({size:,} bytes of data)")
    try:
        # copy-on-write mapping: pages are read on demand and shared between processes; the
        # arrays are writable for torch, and a write would stay private to this process
        images = np.load(path / _IMAGES, mmap_mode="c")
        labels = np.load(path / _LABELS, allow_pickle=False)  # small: read whole
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the arrays of {str(path)!r}: {e}") from None
    if images.shape != shape or images.dtype != np.uint8 or labels.shape != (meta["files"],) \
            or labels.dtype.kind not in "iu":
        raise DataError(f"{str(path)!r}: the arrays do not match {PREPARED_META} (images "
                        f"{images.shape} {images.dtype}, expected {shape} uint8)")
    used = labels[:count]
    if count and (int(used.min()) < 0 or int(used.max()) >= len(meta["class_names"])):
        raise DataError(f"{str(path)!r}: labels range over [{int(used.min())}, "
                        f"{int(used.max())}], outside the {len(meta['class_names'])} classes")
    return ImageData(torch.from_numpy(images[:count]), torch.from_numpy(labels[:count]),
                     tuple(meta["class_names"]), str(path),
                     tuple(tuple(s) for s in meta["skipped"]))


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
    check_channels(channels)
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
