"""Named arrays of an ``.npz`` archive from a stranger, each header checked before its payload.

``numpy.load`` inflates a member whole before anyone sees its shape: a 2 MB archive can hold
gigabytes of zeros. :func:`read_members` reads the zip directory and each wanted member's npy
header (dtype, shape) first, hands them to a check, and only then reads exactly the payload the
header declares; other members are never decompressed. Errors are one :class:`DataError` line.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from ylg.errors import DataError

__all__ = ["read_members", "MAX_RATIO", "RATIO_FROM"]

#: the most a member may inflate (declared bytes over compressed bytes), for members of at least
#: :data:`RATIO_FROM` bytes: images deflate a few times, never a hundred (a bomb: a thousand)
MAX_RATIO = 100
RATIO_FROM = 16 * 2**20


def read_members(path: str | os.PathLike[str], names: Sequence[str],
                 check: Callable[[str, tuple[int, ...], np.dtype], None]) -> dict[str, np.ndarray]:
    """The members ``names`` (without ``.npy``) of the archive at ``path`` that it holds.

    ``check(name, shape, dtype)`` runs on each header before its payload is read and raises
    to refuse it. A member holding Python objects, compressed other than by deflate, encrypted,
    or inflating more than :data:`MAX_RATIO` times is refused.

    Raises
    ------
    DataError
        When the file is not a regular file, not an ``.npz`` archive (an ``.npy`` is named as
        one), or a member is not an npy array, is truncated, or is refused.
    """
    shown = repr(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise DataError(f"cannot read {shown}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # never block on a FIFO or read a device
            raise DataError(f"{shown} is not a regular file")
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            f.seek(0)
            if f.read(6) == b"\x93NUMPY":
                raise DataError(f"{shown} is a single array (.npy), not an .npz archive: save "
                                "it with numpy.savez(path, images=...)") from None
            raise DataError(f"cannot read {shown}: not an .npz archive (truncated?)") from None
        with archive:
            found = {info.filename[:-4]: info for info in archive.infolist()
                     if info.filename.endswith(".npy")}
            return {name: _member(archive, found[name], name, shown, check)
                    for name in names if name in found}


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, shown: str,
            check: Callable[[str, tuple[int, ...], np.dtype], None]) -> np.ndarray:
    where = f"{shown}: member {name!r}"
    if info.flag_bits & 0x1:
        raise DataError(f"{where} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DataError(f"{where} uses zip compression method {info.compress_type}; use "
                        "numpy.savez or savez_compressed")
    try:
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
            except ValueError:
                raise DataError(f"{where} is not an npy array (no npy magic)") from None
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            if dtype.hasobject:
                raise DataError(f"{where} holds Python objects; only plain arrays are read "
                                "(nothing is unpickled)")
            count = int(np.prod(shape, dtype=object))
            nbytes = count * dtype.itemsize
            if nbytes >= RATIO_FROM and nbytes > MAX_RATIO * max(info.compress_size, 1):
                raise DataError(f"{where} declares {nbytes:,} bytes in {info.compress_size:,} "
                                f"compressed: more than {MAX_RATIO} times (a decompression "
                                "bomb?)")
            check(name, tuple(shape), dtype)
            data = member.read(nbytes)
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            NotImplementedError, RuntimeError) as e:
        raise DataError(f"{where} is unreadable, truncated or corrupt ({e})") from None
    if len(data) != nbytes:
        raise DataError(f"{where} is truncated ({len(data):,} of {nbytes:,} bytes)")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")
