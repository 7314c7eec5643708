"""Mask files from strangers: every hostile file ends in one MaskFileError, in bounded memory,
without blocking, and nothing in it is decompressed before its header has been checked."""

import io
import os
import struct
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest

from ifg.errors import MaskFileError
from ifg.io import load
from ifg.maskset import preset

GOOD = preset("ylg", key_grid=(2, 2), query_grid=(4, 4))


def _members(**changes):
    """The good file's members as raw npy bytes, with ``changes`` (name -> bytes or array)."""
    arrays = {}
    tmp = io.BytesIO()
    np.savez(tmp, **_arrays())
    with zipfile.ZipFile(io.BytesIO(tmp.getvalue())) as z:
        for info in z.infolist():
            arrays[info.filename[:-4]] = z.read(info)
    for name, value in changes.items():
        if value is None:
            arrays.pop(name, None)
        elif isinstance(value, bytes):
            arrays[name] = value
        else:
            out = io.BytesIO()
            np.save(out, value, allow_pickle=False)
            arrays[name] = out.getvalue()
    return arrays


def _arrays():
    from ifg.io import _to_arrays
    return _to_arrays(GOOD)


def _zip(members, compression=zipfile.ZIP_DEFLATED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return out.getvalue()


def _npy_header(dtype, shape):
    """An npy version 1.0 header that declares ``shape`` of ``dtype``, with no payload."""
    header = repr({"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    header = header.encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_the_good_members_load_from_bytes_a_file_object_and_a_path(tmp_path):
    data = _zip(_members())
    assert load(data).heads == GOOD.heads
    assert load(io.BytesIO(data)).heads == GOOD.heads
    path = tmp_path / "m.npz"
    path.write_bytes(data)
    assert load(path).heads == GOOD.heads


def test_errors_name_the_given_source():
    with pytest.raises(MaskFileError, match="^checkpoint run/ckpt.pt: not a mask file"):
        load(b"garbage", name="checkpoint run/ckpt.pt")


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "m.npz"
    os.mkfifo(fifo)
    with pytest.raises(MaskFileError, match="not a regular file"):
        load(fifo)


@pytest.mark.timeout(20)
def test_a_link_to_dev_zero_is_refused_without_reading(tmp_path):
    link = tmp_path / "m.npz"
    os.symlink("/dev/zero", link)
    with pytest.raises(MaskFileError, match="not a regular file"):
        load(link)


@pytest.mark.parametrize("field,dtype,shape", [
    ("mask_indices", np.int8, (300_000_000,)),
    ("mask_indices", np.int64, (10**12,)),
    ("mask_indptr", np.int64, (8, 10**9)),
    ("head_pattern", "<U100", (10**7,)),
])
def test_a_field_whose_header_claims_too_much_is_refused_before_its_payload(field, dtype,
                                                                            shape):
    data = _zip(_members(**{field: _npy_header(dtype, shape)}))
    with pytest.raises(MaskFileError, match=f"field '{field}' declares shape"):
        load(data)


def test_an_unknown_member_is_never_decompressed():
    members = _members()
    members["payload"] = b"x" * 10_000_000  # would cost memory if it were read
    raw = bytearray(_zip(members))
    # corrupt the unknown member's deflate stream: decompressing it would fail loudly
    start = raw.index(b"payload.npy") + len("payload.npy")
    raw[start + 40:start + 80] = b"\xff" * 40
    assert load(bytes(raw)).heads == GOOD.heads


def test_long_strings_are_refused_before_reading():
    data = _zip(_members(enumeration=_npy_header("<U100000", ())))
    with pytest.raises(MaskFileError, match="'enumeration' holds strings of 100000"):
        load(data)


@pytest.mark.parametrize("text", ["row\nmajor", "\x1b[31mred", "a" * 300])
def test_text_a_report_would_print_is_refused(text):
    data = _zip(_members(enumeration=np.array(text)))
    with pytest.raises(MaskFileError, match="'enumeration' holds"):
        load(data)


def test_the_encrypted_bit_is_refused():
    raw = bytearray(_zip(_members()))
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        i = raw.index(sig)
        while i >= 0:
            flag_at = i + (6 if sig == b"PK\x03\x04" else 8)
            raw[flag_at] |= 1
            i = raw.find(sig, i + 4)
    with pytest.raises(MaskFileError, match="encrypted"):
        load(bytes(raw))


def test_an_unknown_compression_method_is_refused():
    raw = bytearray(_zip(_members()))
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = raw.find(sig)
        while i >= 0:
            raw[i + at:i + at + 2] = struct.pack("<H", 6)
            i = raw.find(sig, i + 4)
    with pytest.raises(MaskFileError, match="compression method 6"):
        load(bytes(raw))


def test_a_member_without_the_npy_magic_is_refused():
    with pytest.raises(MaskFileError, match="'mask_indices' is unreadable"):
        load(_zip(_members(mask_indices=b"not an npy file at all")))


def test_a_truncated_payload_is_refused():
    full = _members()["mask_indices"]
    with pytest.raises(MaskFileError, match="'mask_indices' is truncated"):
        load(_zip(_members(mask_indices=full[:-3])))


def test_an_indptr_that_overflows_int64_is_refused():
    indptr = _arrays()["mask_indptr"].copy()
    indptr[:4, -1] = 2**62  # four heads of 2**62 would wrap to a plausible total
    with pytest.raises(MaskFileError, match="'mask_indptr' of head 0 holds"):
        load(_zip(_members(mask_indptr=indptr)))


@pytest.mark.timeout(60)
def test_a_memory_bomb_is_refused_under_a_small_address_space(tmp_path):
    """Under a 1 GiB address-space limit, the 300 M int8 member (2.7 GB on main before the
    bounds) ends in the one-line refusal instead of a MemoryError or the OOM killer."""
    bomb = tmp_path / "bomb.npz"
    members = _members(mask_indices=_npy_header(np.int8, (300_000_000,)) + bytes(1 << 20))
    bomb.write_bytes(_zip(members))
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from ifg.errors import MaskFileError
        from ifg.io import load
        try:
            load({str(bomb)!r})
        except MaskFileError as err:
            print("refused:", err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "declares shape" in out.stdout


def test_a_non_seekable_stream_is_read_whole_then_checked(tmp_path):
    r, w = os.pipe()
    data = _zip(_members())
    threading.Thread(target=lambda: (os.write(w, data), os.close(w)), daemon=True).start()
    with os.fdopen(r, "rb") as f:
        assert load(f).heads == GOOD.heads


def _big_grid_bomb(path, indptr):
    """A mask file whose grids allow 8 x 16,384 x 4,096 entries and whose ``mask_indices`` is
    300 M int8 zeros, deflated (about 300 KB on disk), written a megabyte at a time."""
    arrays = _arrays()
    members = _members(query_grid=np.array([128, 128]), key_grid=np.array([64, 64]),
                       mask_indptr=indptr, mask_indices=None)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
        with z.open("mask_indices.npy", "w", force_zip64=True) as f:
            f.write(_npy_header(np.int8, (300_000_000,)))
            chunk = bytes(1 << 20)
            for _ in range(300_000_000 >> 20):
                f.write(chunk)
            f.write(bytes(300_000_000 - (300_000_000 >> 20 << 20)))
    assert len(arrays["head_pattern"]) == 8


@pytest.mark.timeout(120)
@pytest.mark.parametrize("indptr,refusal", [
    (np.zeros((8, 17), np.int64), "'mask_indptr' has shape (8, 17), expected (8, 16385)"),
    (np.tile(np.linspace(0, 37_500_000, 16385).astype(np.int64), (8, 1)),
     "'mask_indices' declares shape (300000000,) of int8 (1,200,000,000 bytes as loaded)"),
    (np.tile(np.arange(16385, dtype=np.int64), (8, 1)),
     "'mask_indices' declares shape (300000000,) of int8 (1,200,000,000 bytes as loaded)"),
])
def test_a_deflated_index_bomb_is_refused_before_it_is_decompressed(tmp_path, indptr, refusal):
    """300 M int8 indices in a 0.3 MB file, under grids that allow them: refused from the row
    pointers' shape and count (read first) and the indices' int32 size, before a byte of them
    is inflated (2.6 GB on main), under a 1 GiB address-space limit above start-up, peaking
    under 400 MiB."""
    bomb = tmp_path / "bomb.npz"
    _big_grid_bomb(bomb, indptr)
    assert bomb.stat().st_size < 2_000_000
    code = textwrap.dedent(f"""
        import resource
        from ifg.errors import MaskFileError
        from ifg.io import load
        import numpy, scipy.sparse
        size = [line for line in open("/proc/self/status") if line.startswith("VmSize:")]
        used = int(size[0].split()[1]) * 1024  # the address space after the imports
        resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), used + (1 << 30)))
        try:
            load({str(bomb)!r})
        except MaskFileError as err:
            print("refused:", err)
        # this process's own high-water mark (ru_maxrss keeps the forking parent's)
        hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
        print("peak MiB", int(hwm[0].split()[1]) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and refusal in out.stdout, out.stdout
    peak = int(out.stdout.split("peak MiB")[1])
    assert peak < 400, out.stdout
