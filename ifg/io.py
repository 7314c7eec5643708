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

import os
import uuid
import zipfile
import zlib

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument, MaskFileError
from ifg.maskset import TILINGS, Head, MaskSet, untile

__all__ = ["FORMAT", "FORMAT_VERSION", "FIELDS", "save", "load"]

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


def _canonical(mask):
    """A boolean CSR copy with sorted, unique indices and no explicit False entries."""
    m = sp.csr_matrix(mask, copy=True).astype(bool)
    m.eliminate_zeros()
    m.sum_duplicates()
    m.sort_indices()
    return m


def _to_arrays(maskset):
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


def save(maskset: MaskSet, path: str | os.PathLike) -> None:
    """Write a mask set to ``path`` as a ``masks.npz`` file (written whole or not at all).

    Parameters
    ----------
    maskset : MaskSet
    path : str or os.PathLike
        Written exactly as given (no ``.npz`` is appended).

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
    # a fresh name beside the target: same file system for the rename, the umask's permissions
    tmp = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "xb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)  # a reader never sees a half-written file
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path: str | os.PathLike) -> MaskSet:
    """Read and validate a ``masks.npz`` file; never unpickles.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MaskSet

    Raises
    ------
    MaskFileError
        With one message naming the file and the field, when the file is missing, truncated or
        not an npz archive, of an unknown format version, lacks a field, has a field of the
        wrong dtype or shape, has a key index out of range, unsorted or repeated indices, a
        query row that allows no key, or head labels and groups that disagree.

    Examples
    --------
    >>> import os, tempfile
    >>> from ifg.maskset import preset
    >>> path = os.path.join(tempfile.mkdtemp(), "masks.npz")
    >>> save(preset("ylg-no-esa", key_grid=(4, 4)), path)
    >>> ms = load(path)
    >>> ms.enumeration, ms.groups
    ('rowmajor', ((0, 1), (2, 3), (4, 5), (6, 7)))
    """
    path = os.fspath(path)
    return _from_arrays(_read(path), path)


def _read(path):
    """Every array of the archive, read eagerly so that a truncated member fails here."""
    if not os.path.exists(path):
        raise MaskFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise MaskFileError(f"{path}: is a folder, not a mask file")
    if not zipfile.is_zipfile(path):
        raise MaskFileError(f"{path}: not a mask file (not an npz/zip archive; truncated?)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MaskFileError(f"{path}: not a readable npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise MaskFileError(f"{path}: not an npz archive of named fields")
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as err:
                if "allow_pickle" in str(err):
                    raise MaskFileError(f"{path}: field {name!r} holds Python objects; mask files "
                                        "hold plain arrays only and are never unpickled") from None
                raise MaskFileError(f"{path}: field {name!r} is unreadable ({err})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
                raise MaskFileError(f"{path}: field {name!r} is unreadable, the file is "
                                    f"truncated or corrupt ({err})") from None
    return arrays


def _field(arrays, name, path):
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
    return value.astype(np.int64) if kind == "int" else value


def _grid(arrays, name, path):
    grid = _field(arrays, name, path)
    if grid.shape != (2,) or (grid <= 0).any():
        raise MaskFileError(f"{path}: field {name!r} must be two positive integers (h, w), got "
                            f"{grid.tolist()}")
    return int(grid[0]), int(grid[1])


def _from_arrays(arrays, path):
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
    enumeration = str(_field(arrays, "enumeration", path))
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
    heads = tuple(Head(str(n), int(s)) for n, s in zip(names, steps))

    masks = _masks(arrays, path, num_heads, nq, nk)
    groups = _groups(arrays, path, heads)
    for h, m in enumerate(masks):
        try:
            untile(m, key_grid=key_grid, query_grid=query_grid, tiling=tiling)
        except InvalidArgument as err:
            raise MaskFileError(f"{path}: field 'tiling' is {tiling!r}, but head {h}'s mask "
                                f"does not follow it ({err})") from None
    return MaskSet(masks, query_grid, key_grid, enumeration, tiling, heads, groups)


def _masks(arrays, path, num_heads, nq, nk):
    indptr = _field(arrays, "mask_indptr", path)
    indices = _field(arrays, "mask_indices", path)
    if indptr.shape != (num_heads, nq + 1):
        raise MaskFileError(f"{path}: field 'mask_indptr' has shape {indptr.shape}, expected "
                            f"({num_heads}, {nq + 1}) (heads, query-grid positions + 1)")
    if (indptr[:, 0] != 0).any():
        h = int(np.argmax(indptr[:, 0] != 0))
        raise MaskFileError(f"{path}: field 'mask_indptr' of head {h} starts at "
                            f"{int(indptr[h, 0])}, expected 0")
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
    bad = (indices < 0) | (indices >= nk)
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
    masks = []
    for h in range(num_heads):
        cols = indices[offsets[h]:offsets[h] + nnz[h]].astype(np.int32)
        data = np.ones(len(cols), dtype=bool)
        masks.append(sp.csr_matrix((data, cols, indptr[h]), shape=(nq, nk)))
    return tuple(masks)


def _groups(arrays, path, heads):
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
