"""The mask file ``masks.npz``: save a :class:`~ifg.maskset.MaskSet`, load and validate one.

The file is a zip of numpy arrays (``numpy.savez_compressed``); strings are numpy unicode arrays,
never Python objects, and loading never unpickles (``allow_pickle=False``). Every field is
documented in ``docs/mask-format.md``:

================= ============ ================== ===========================================
field             dtype        shape              meaning
================= ============ ================== ===========================================
format            unicode      ()                 always ``"ylg-masks"``
format_version    integer      ()                 :data:`FORMAT_VERSION`
query_grid        integer      (2,)               ``(h, w)`` of the queries
key_grid          integer      (2,)               ``(h, w)`` of the keys
enumeration       unicode      ()                 how the square masks were laid out (ESA ...)
tiling            unicode      ()                 ``official`` or ``aligned`` (SPEC section 5)
head_pattern      unicode      (H,)               each head's pattern name
head_step         integer      (H,)               each head's step, 1-based
mask_indptr       integer      (H, Nq + 1)        per head, CSR row pointers into its indices
mask_indices      integer      (sum of nnz,)      the heads' CSR column indices, head after head
group_indptr      integer      (G + 1,)           CSR pointers into ``group_heads``
group_heads       integer      (sum of sizes,)    the heads of each multi-step group, in order
================= ============ ================== ===========================================
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any, BinaryIO, cast

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument, MaskFileError
from ifg.files import atomic_write
from ifg.maskset import TILINGS, Head, MaskSet, untile

__all__ = ["FORMAT", "FORMAT_VERSION", "FIELDS", "MAX_FILE_BYTES", "save", "load"]

#: the value of the ``format`` field: what kind of file this is
FORMAT = "ylg-masks"

#: the version this module writes and the only one it reads
FORMAT_VERSION = 1

#: field name -> (kind: "str" or "int", number of dimensions)
FIELDS = {
    "format": ("str", 0),
    "format_version": ("int", 0),
    "query_grid": ("int", 1),
    "key_grid": ("int", 1),
    "enumeration": ("str", 0),
    "tiling": ("str", 0),
    "head_pattern": ("str", 1),
    "head_step": ("int", 1),
    "mask_indptr": ("int", 2),
    "mask_indices": ("int", 1),
    "group_indptr": ("int", 1),
    "group_heads": ("int", 1),
}


def _canonical(mask: sp.spmatrix) -> sp.csr_matrix:
    """A boolean CSR copy with sorted, unique indices and no explicit False entries."""
    m = sp.csr_matrix(mask, copy=True).astype(bool)
    m.eliminate_zeros()
    m.sum_duplicates()
    m.sort_indices()
    return m


def _to_arrays(maskset: MaskSet) -> dict[str, np.ndarray]:
    masks = [_canonical(m) for m in maskset.masks]
    nq = maskset.nq
    indptr = np.zeros((len(masks), nq + 1), dtype=np.int64)
    for h, m in enumerate(masks):
        indptr[h] = m.indptr
    indices = (np.concatenate([m.indices for m in masks]) if masks
               else np.zeros(0)).astype(np.int32)  # Nk < 2**31 keys; half the size of int64
    sizes = [len(g) for g in maskset.groups]
    return {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "query_grid": np.array(maskset.query_grid, dtype=np.int64),
        "key_grid": np.array(maskset.key_grid, dtype=np.int64),
        "enumeration": np.array(str(maskset.enumeration)),
        "tiling": np.array(str(maskset.tiling)),
        "head_pattern": np.array([h.pattern for h in maskset.heads], dtype=str).reshape(-1),
        "head_step": np.array([h.step for h in maskset.heads], dtype=np.int64).reshape(-1),
        "mask_indptr": indptr,
        "mask_indices": indices,
        "group_indptr": np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64),
        "group_heads": np.array([h for g in maskset.groups for h in g], dtype=np.int64),
    }


def save(maskset: MaskSet, path: str | os.PathLike, *, mkdir: bool = False) -> None:
    """Write a mask set to ``path`` as a ``masks.npz`` file (written whole or not at all).

    Parameters
    ----------
    maskset : MaskSet
    path : str or os.PathLike
        Written exactly as given (no ``.npz`` is appended).
    mkdir : bool
        Create the folder if needed (else a missing folder is an error).

    Raises
    ------
    InvalidArgument
        When the mask set would not load back: a query row allows no key, a group does not list
        the steps 1..P of one pattern, ...

    Examples
    --------
    >>> import os, tempfile
    >>> from ifg.maskset import preset
    >>> path = os.path.join(tempfile.mkdtemp(), "masks.npz")
    >>> save(preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), path)
    >>> load(path).num_heads
    8
    """
    if not isinstance(maskset, MaskSet):
        raise InvalidArgument(f"save needs a MaskSet, got {type(maskset).__name__}")
    path = os.fspath(path)
    arrays = _to_arrays(maskset)
    try:
        _from_arrays(arrays, f"cannot save {path}")
    except MaskFileError as err:
        raise InvalidArgument(str(err)) from None
    fields = cast(dict[str, Any], arrays)  # numpy's stubs confuse **fields with allow_pickle
    atomic_write(path, lambda f: np.savez_compressed(f, **fields), mkdir=mkdir)  # never half


def _env_bytes(name: str, default: int) -> tuple[int, str | None]:
    """A positive byte count from the environment variable ``name`` (``536870912``, ``5e8``,
    ``512M``, ``1G``): the count, and what was wrong with the text (then the default is kept
    and :func:`load` refuses to run: an import never fails)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default, None
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    scale = units.get(text[-1].upper(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = float("nan")
    if not (1 <= value < 2**62):  # NaN too
        return default, (f"{name} must be a positive number of bytes (536870912, 5e8, 512M), "
                         f"got {text[:40]!r}")
    return int(value), None


#: the most bytes one field of a mask file may hold once decompressed; a file claiming more
#: is refused before anything is allocated (raise it with the ``YLG_MAX_MASK_BYTES`` variable)
MAX_FIELD_BYTES, _BAD_LIMIT = _env_bytes("YLG_MAX_MASK_BYTES", 512 * 2**20)

#: the longest string a text field may hold, and the characters it may use (names, never
#: control characters: the strings are printed in reports)
_MAX_TEXT = 200
_TEXT = re.compile(r"[A-Za-z0-9 _.,:;+\-=()\[\]/]*")


def load(source: str | os.PathLike | bytes | BinaryIO, *, name: str | None = None) -> MaskSet:
    """Read and validate a ``masks.npz`` file; never unpickles.

    The file is read header first: each field's npy header (dtype, shape) is checked against
    limits derived from the grids before its payload is read, unknown members are never
    decompressed, and nothing that is not a regular file is opened (a FIFO, a device).

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A path, the file's bytes (e.g. embedded in a checkpoint), or an open seekable file.
    name : str, optional
        How error messages name the source (default: the path, or ``<bytes>``).

    Returns
    -------
    MaskSet

    Raises
    ------
    MaskFileError
        With one message naming the file and the field, when the file is missing, not a
        regular file, truncated or not an npz archive, encrypted or compressed in an unknown
        way, of an unknown format version, lacks a field, has a field of the wrong dtype or
        shape or larger than the grids allow, has a key index out of range, unsorted or
        repeated indices, a query row that allows no key, text with control characters, or
        head labels and groups that disagree.

    Examples
    --------
    >>> import os, tempfile
    >>> from ifg.maskset import preset
    >>> path = os.path.join(tempfile.mkdtemp(), "masks.npz")
    >>> save(preset("ylg-no-esa", key_grid=(4, 4)), path)
    >>> ms = load(path)
    >>> ms.enumeration, ms.groups
    ('rowmajor', ((0, 1), (2, 3), (4, 5), (6, 7)))
    >>> with open(path, "rb") as f:
    ...     load(f.read()).num_heads
    8
    """
    if _BAD_LIMIT is not None:
        raise InvalidArgument(_BAD_LIMIT)
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        return _from_arrays(_read_zip(io.BytesIO(bytes(source)), label), label)
    if hasattr(source, "read"):
        label = name or str(getattr(source, "name", "<file>"))
        if not (hasattr(source, "seekable") and source.seekable()):
            source = io.BytesIO(source.read(MAX_FILE_BYTES + 1))
        return _from_arrays(_read_zip(cast(BinaryIO, source), label), label)
    path = os.fspath(source)
    label = name or path
    with _open_regular(path, label) as f:
        return _from_arrays(_read_zip(f, label), label)


#: the largest mask file read at all (its fields are bounded one by one as well)
MAX_FILE_BYTES = 8 * MAX_FIELD_BYTES


def _open_regular(path: str | os.PathLike[str], label: str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file; never blocks (FIFOs, devices)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MaskFileError(f"{label}: no such file") from None
    except OSError as err:
        raise MaskFileError(f"{label}: cannot read ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise MaskFileError(f"{label}: is a folder, not a mask file")
    if not stat.S_ISREG(st.st_mode):
        raise MaskFileError(f"{label}: not a regular file (a device, FIFO or socket); mask "
                            "files are read from regular files only")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise MaskFileError(f"{label}: cannot read ({err.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the stat and the open
        os.close(fd)
        raise MaskFileError(f"{label}: not a regular file")
    return os.fdopen(fd, "rb")


def _read_zip(f: BinaryIO, label: str) -> dict[str, np.ndarray]:
    """The archive's known fields, each header checked before its payload is read."""
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise MaskFileError(f"{label}: not a mask file (not an npz/zip archive; "
                            "truncated?)") from None
    arrays: dict[str, np.ndarray] = {}
    with archive:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            field = info.filename[:-4] if info.filename.endswith(".npy") else None
            if field in FIELDS and field not in members:
                members[field] = info  # anything else is never decompressed
        # the version first (a newer file may differ in anything), then the grids and the head
        # count: they bound every other field; the row pointers before the indices they count
        for field in sorted(members, key=lambda n: (n not in _VERSION, n not in _SMALL,
                                                    n == "mask_indices")):
            arrays[field] = _read_member(archive, members[field], field, label,
                                         _limit(field, arrays, label))
            if field == "format_version" and not _is_current(arrays[field]):
                break  # the validation names the version; nothing else is read
    return arrays


_VERSION = ("format", "format_version")


def _is_current(version: np.ndarray) -> bool:
    return version.shape == () and version.dtype.kind in "iu" and int(version) == FORMAT_VERSION


#: fields whose size does not depend on the others: a few bytes each
_SMALL = ("format", "format_version", "query_grid", "key_grid", "enumeration", "tiling",
          "head_pattern", "head_step", "group_indptr", "group_heads")


def _limit(field: str, arrays: dict[str, np.ndarray], label: str) -> int:
    """The most elements ``field`` may hold, from the fields already read."""
    if field in ("format", "format_version", "enumeration", "tiling"):
        return 1
    if field in ("query_grid", "key_grid"):
        return 2
    if field in ("head_pattern", "head_step", "group_indptr", "group_heads"):
        return 4096 + 1
    heads = arrays.get("head_pattern")
    nq, nk = (_cells(arrays.get(g)) for g in ("query_grid", "key_grid"))
    if heads is None or nq is None or nk is None:
        return 0  # read nothing: the missing field is reported by the validation
    if field == "mask_indptr":
        return len(heads) * (nq + 1)
    # mask_indices: exactly what the row pointers count, checked against the grids first
    indptr = _field(arrays, "mask_indptr", label)
    if indptr.shape != (len(heads), nq + 1):
        raise MaskFileError(f"{label}: field 'mask_indptr' has shape {indptr.shape}, expected "
                            f"({len(heads)}, {nq + 1}) (heads, query-grid positions + 1)")
    counted = sum(min(max(int(x), 0), nq * nk) for x in indptr[:, -1])
    return min(len(heads) * nq * nk, counted)  # at most every key for every query


def _cells(grid: np.ndarray | None) -> int | None:
    if grid is None or grid.dtype.kind not in "iu" or grid.shape != (2,):
        return None
    h, w = (int(x) for x in grid)
    return h * w if 0 < h < 2**31 and 0 < w < 2**31 else None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, field: str, label: str,
                 limit: int) -> np.ndarray:
    """One npy member: its header checked (dtype, shape, bytes), then exactly its payload."""
    if info.flag_bits & 0x1:
        raise MaskFileError(f"{label}: field {field!r} is encrypted; mask files are plain zips")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise MaskFileError(f"{label}: field {field!r} uses zip compression method "
                            f"{info.compress_type}; mask files use stored or deflate")
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            _check_header(field, shape, fortran, dtype, label, limit)
            count = int(np.prod(shape, dtype=np.int64))
            data = member.read(count * dtype.itemsize)
    except MaskFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            NotImplementedError, RuntimeError) as err:
        raise MaskFileError(f"{label}: field {field!r} is unreadable, the file is truncated "
                            f"or corrupt ({err})") from None
    if len(data) != count * dtype.itemsize:
        raise MaskFileError(f"{label}: field {field!r} is truncated ({len(data)} of "
                            f"{count * dtype.itemsize} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _check_header(field: str, shape: tuple[int, ...], fortran: bool, dtype: np.dtype,
                  label: str, limit: int) -> None:
    if dtype.hasobject:
        raise MaskFileError(f"{label}: field {field!r} holds Python objects; mask files hold "
                            "plain arrays only and are never unpickled")
    if dtype.kind not in "iuU" or dtype.fields is not None:
        expected = "a unicode string array" if FIELDS[field][0] == "str" else "an integer dtype"
        raise MaskFileError(f"{label}: field {field!r} has dtype {dtype}, expected {expected}")
    if dtype.kind == "U" and dtype.itemsize > 4 * _MAX_TEXT:
        raise MaskFileError(f"{label}: field {field!r} holds strings of {dtype.itemsize // 4} "
                            f"characters, more than {_MAX_TEXT}")
    if fortran and len(shape) > 1:
        raise MaskFileError(f"{label}: field {field!r} is stored in Fortran order; expected C")
    count = int(np.prod(shape, dtype=object))
    # the bytes it takes as the loader keeps it: indices as int32, other integers as int64
    kept = max(dtype.itemsize, _KEPT_BYTES.get(field, 8) if dtype.kind in "iu" else 0)
    if count > limit or count * kept > MAX_FIELD_BYTES:
        raise MaskFileError(f"{label}: field {field!r} declares shape {shape} of {dtype} "
                            f"({count * kept:,} bytes as loaded), more than its grids and heads "
                            f"allow ({limit:,} elements, at most {MAX_FIELD_BYTES:,} bytes)")


#: the bytes per element an integer field takes once loaded (others: int64)
_KEPT_BYTES = {"mask_indices": 4}


def _field(arrays: dict[str, np.ndarray], name: str, path: str) -> np.ndarray:
    """The field ``name`` checked for presence, kind and number of dimensions."""
    if name not in arrays:
        raise MaskFileError(f"{path}: missing field {name!r}")
    value = arrays[name]
    kind, ndim = FIELDS[name]
    if kind == "str" and value.dtype.kind != "U":
        raise MaskFileError(f"{path}: field {name!r} has dtype {value.dtype}, expected a unicode "
                            "string array")
    if kind == "int" and value.dtype.kind not in "iu":
        raise MaskFileError(f"{path}: field {name!r} has dtype {value.dtype}, expected an "
                            "integer dtype")
    if value.ndim != ndim:
        raise MaskFileError(f"{path}: field {name!r} has shape {value.shape}, expected "
                            f"{ndim} dimension(s)")
    if kind != "int" or name == "mask_indices":  # indices: checked as stored, kept as int32
        return value
    return value.astype(np.int64)


def _text(value: object, name: str, path: str) -> str:
    """A text field as str, refused if it holds characters a report should not print."""
    text = str(value)
    if len(text) > _MAX_TEXT or not _TEXT.fullmatch(text):
        shown = text[:40].encode("unicode_escape").decode("ascii")
        raise MaskFileError(f"{path}: field {name!r} holds {shown!r}: names use letters, digits "
                            f"and simple punctuation, at most {_MAX_TEXT} characters")
    return text


def _grid(arrays: dict[str, np.ndarray], name: str, path: str) -> tuple[int, int]:
    grid = _field(arrays, name, path)
    if grid.shape != (2,) or (grid <= 0).any():
        raise MaskFileError(f"{path}: field {name!r} must be two positive integers (h, w), got "
                            f"{grid.tolist()}")
    return int(grid[0]), int(grid[1])


def _from_arrays(arrays: dict[str, np.ndarray], path: str) -> MaskSet:
    """Validate the fields (version first, then shapes, then contents) and build the MaskSet.

    ``path`` starts every error message: the file name, or what ``save`` was doing.
    """
    fmt = _field(arrays, "format", path)
    if str(fmt) != FORMAT:
        raise MaskFileError(f"{path}: field 'format' is {str(fmt)!r}, expected {FORMAT!r}")
    version = int(_field(arrays, "format_version", path))
    if version != FORMAT_VERSION:
        raise MaskFileError(f"{path}: field 'format_version' is {version}, but this toolkit reads "
                            f"only version {FORMAT_VERSION}")
    for name in FIELDS:
        _field(arrays, name, path)  # every missing field or wrong dtype, before any content
    query_grid = _grid(arrays, "query_grid", path)
    key_grid = _grid(arrays, "key_grid", path)
    nq, nk = query_grid[0] * query_grid[1], key_grid[0] * key_grid[1]
    enumeration = _text(_field(arrays, "enumeration", path), "enumeration", path)
    if not enumeration:
        raise MaskFileError(f"{path}: field 'enumeration' is empty")
    tiling = str(_field(arrays, "tiling", path))
    if tiling not in TILINGS:
        raise MaskFileError(f"{path}: field 'tiling' is {tiling!r}, expected one of "
                            f"{', '.join(TILINGS)}")

    names = _field(arrays, "head_pattern", path)
    steps = _field(arrays, "head_step", path)
    num_heads = len(names)
    if num_heads == 0:
        raise MaskFileError(f"{path}: field 'head_pattern' lists no heads")
    if steps.shape != (num_heads,):
        raise MaskFileError(f"{path}: field 'head_step' has shape {steps.shape}, expected "
                            f"({num_heads},) (one per head of 'head_pattern')")
    if (steps < 1).any():
        h = int(np.argmax(steps < 1))
        raise MaskFileError(f"{path}: field 'head_step' is {int(steps[h])} for head {h}; steps "
                            "start at 1")
    heads = tuple(Head(_text(n, "head_pattern", path), int(s)) for n, s in zip(names, steps))

    masks = _masks(arrays, path, num_heads, nq, nk)
    groups = _groups(arrays, path, heads)
    for h, m in enumerate(masks):
        try:
            untile(m, key_grid=key_grid, query_grid=query_grid, tiling=tiling)
        except InvalidArgument as err:
            raise MaskFileError(f"{path}: field 'tiling' is {tiling!r}, but head {h}'s mask "
                                f"does not follow it ({err})") from None
    return MaskSet(masks, query_grid, key_grid, enumeration, tiling, heads, groups)


def _masks(arrays: dict[str, np.ndarray], path: str, num_heads: int, nq: int,
           nk: int) -> tuple[sp.csr_matrix, ...]:
    indptr = _field(arrays, "mask_indptr", path)
    indices = _field(arrays, "mask_indices", path)
    if nk >= 2**31:  # key indices are int32 in the masks
        raise MaskFileError(f"{path}: field 'key_grid' has {nk:,} positions; at most "
                            f"{2**31 - 1:,} are supported")
    if indptr.shape != (num_heads, nq + 1):
        raise MaskFileError(f"{path}: field 'mask_indptr' has shape {indptr.shape}, expected "
                            f"({num_heads}, {nq + 1}) (heads, query-grid positions + 1)")
    if (indptr[:, 0] != 0).any():
        h = int(np.argmax(indptr[:, 0] != 0))
        raise MaskFileError(f"{path}: field 'mask_indptr' of head {h} starts at "
                            f"{int(indptr[h, 0])}, expected 0")
    if ((indptr < 0) | (indptr > nq * nk)).any():  # bounds first: no sum below can overflow
        h, q = map(int, np.argwhere((indptr < 0) | (indptr > nq * nk))[0])
        raise MaskFileError(f"{path}: field 'mask_indptr' of head {h} holds "
                            f"{int(indptr[h, q])} at row {q}, outside [0, {nq * nk}]")
    counts = np.diff(indptr, axis=1)  # (heads, Nq): keys per query row
    if (counts < 0).any():
        h, q = map(int, np.argwhere(counts < 0)[0])
        raise MaskFileError(f"{path}: field 'mask_indptr' decreases at head {h}, query row {q}")
    if (counts == 0).any():
        h, q = map(int, np.argwhere(counts == 0)[0])
        raise MaskFileError(f"{path}: field 'mask_indptr': head {h}, query row {q} allows no "
                            "key (every query must attend at least one key)")
    nnz = indptr[:, -1]
    if len(indices) != nnz.sum():
        raise MaskFileError(f"{path}: field 'mask_indices' has {len(indices)} entries, but "
                            f"'mask_indptr' counts {int(nnz.sum())}")
    bad = (indices < 0) | (indices >= nk) if len(indices) else np.zeros(0, dtype=bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise MaskFileError(f"{path}: field 'mask_indices' holds key {int(indices[i])} at "
                            f"entry {i}, out of range [0, {nk}) of the key grid")
    # within a row the keys must strictly increase: only a row's first entry may not
    starts = np.zeros(len(indices), dtype=bool)
    offsets = np.concatenate([[0], np.cumsum(nnz)[:-1]])
    starts[(indptr[:, :-1] + offsets[:, None]).ravel()] = True
    rising = np.ones(len(indices), dtype=bool)
    rising[1:] = indices[1:] > indices[:-1]
    bad = ~(rising | starts)
    if bad.any():
        i = int(np.argmax(bad))
        raise MaskFileError(f"{path}: field 'mask_indices' is not sorted and unique within a "
                            f"query row (entry {i}, key {int(indices[i])})")
    del bad, starts, rising
    indices = indices.astype(np.int32)  # in [0, nk), nk < 2**31: a writable int32 copy
    masks = []
    for h in range(num_heads):
        cols = indices[offsets[h]:offsets[h] + nnz[h]]
        data = np.ones(len(cols), dtype=bool)
        masks.append(sp.csr_matrix((data, cols, indptr[h]), shape=(nq, nk)))
    return tuple(masks)


def _groups(arrays: dict[str, np.ndarray], path: str,
            heads: Sequence[Head]) -> tuple[tuple[int, ...], ...]:
    pointers = _field(arrays, "group_indptr", path)
    members = _field(arrays, "group_heads", path)
    if len(pointers) < 1 or pointers[0] != 0 or (np.diff(pointers) < 1).any() \
            or pointers[-1] != len(members):
        raise MaskFileError(f"{path}: field 'group_indptr' must start at 0, rise by at least 1 "
                            f"per group and end at {len(members)} (the length of 'group_heads'), "
                            f"got {pointers.tolist()}")
    if ((members < 0) | (members >= len(heads))).any():
        h = int(members[(members < 0) | (members >= len(heads))][0])
        raise MaskFileError(f"{path}: field 'group_heads' names head {h}, outside "
                            f"0..{len(heads) - 1}")
    groups = tuple(tuple(int(h) for h in members[a:b]) for a, b in zip(pointers, pointers[1:]))
    for g, group in enumerate(groups):
        labels = [heads[h] for h in group]
        if any(x.pattern != labels[0].pattern for x in labels) or \
                [x.step for x in labels] != list(range(1, len(labels) + 1)):
            text = ", ".join(f"{h}={x.pattern}:{x.step}" for h, x in zip(group, labels))
            raise MaskFileError(f"{path}: field 'group_heads': group {g} ({text}) is not the "
                                "steps 1..P of one pattern in order")
    return groups
