"""A ``torch.save`` file's zip directory, checked before ``torch.load`` reads any of it.

``torch.load`` inflates every entry of the archive, whatever the dict it unpickles keeps: a
10 MB file can hold a deflated gigabyte. ``torch.save`` stores its entries uncompressed and
names them after a fixed scheme, so :func:`check_entries` refuses what a checkpoint never
holds (a compressed or encrypted entry, an unknown name, a pickle larger than
:data:`MAX_PICKLE_BYTES`): then loading costs at most the file's own size.
"""

from __future__ import annotations

import os
import re
import zipfile

from ylg.errors import CheckpointError

__all__ = ["check_entries", "MAX_PICKLE_BYTES"]

#: the largest pickled record read (a checkpoint's is a few hundred kilobytes: names, numbers)
MAX_PICKLE_BYTES = 64 * 2**20

#: the entries ``torch.save`` writes, under one top folder
_NAMES = re.compile(r"[^/]+/(data\.pkl|byteorder|version|\.format_version|\.storage_alignment"
                    r"|\.data/serialization_id|\.data/version|data/\d{1,12})")


def check_entries(path: str | os.PathLike[str], label: str) -> None:
    """Refuse a zip-format torch file at ``path`` whose directory holds what ``torch.save``
    never writes; a file that does not start as a zip is left to ``torch.load`` (the legacy
    format, read as it is stored). ``label`` starts the error message."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # torch.load's own test of its zip format
                return
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return  # torch.load names it corrupt
    tops = {e.filename.split("/", 1)[0] for e in entries}
    for e in entries:
        if not _NAMES.fullmatch(e.filename) or len(tops) > 1:
            raise CheckpointError(f"{label}: holds an entry {e.filename[:80]!r} that a "
                                  "checkpoint never holds")
        if e.flag_bits & 0x1 or e.compress_type != zipfile.ZIP_STORED \
                or e.file_size != e.compress_size:
            raise CheckpointError(f"{label}: entry {e.filename[:80]!r} is compressed or "
                                  f"encrypted ({e.compress_size:,} bytes inflating to "
                                  f"{e.file_size:,}); torch.save stores its entries as they are")
        if e.filename.endswith("/data.pkl") and e.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{label}: its record (data.pkl) is {e.file_size:,} bytes, "
                                  f"more than the {MAX_PICKLE_BYTES:,} read")
