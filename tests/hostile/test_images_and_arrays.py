"""Image files in every Pillow mode decode to the right 8-bit values or are refused with a
reason; data arrays outside their documented range are refused, never silently clamped."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from ylg.data import decode_image, npz_arrays
from ylg.errors import DataError


def _save(tmp_path, im, name):
    path = tmp_path / name
    im.save(path)
    return path


def _grey(tmp_path, im, name):
    return decode_image(_save(tmp_path, im, name), 8, 1)[0]


def test_a_16_bit_png_of_mid_grey_is_mid_grey(tmp_path):
    im = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    assert im.mode.startswith("I")
    a = _grey(tmp_path, im, "g16.png")
    assert np.all(a == 128)


def test_a_float_tiff_in_unit_range_is_scaled(tmp_path):
    im = Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32), "F")
    a = _grey(tmp_path, im, "f.tif")
    assert np.all(a == 128)


def test_a_float_tiff_in_byte_range_is_kept(tmp_path):
    im = Image.fromarray(np.full((8, 8), 200.0, dtype=np.float32), "F")
    assert np.all(_grey(tmp_path, im, "f255.tif") == 200)


@pytest.mark.parametrize("value,message", [(np.nan, "NaN"), (-1.0, "non-negative"),
                                           (1e6, "reach")])
def test_float_pixels_out_of_range_are_refused(tmp_path, value, message):
    im = Image.fromarray(np.full((8, 8), value, dtype=np.float32), "F")
    with pytest.raises(DataError, match=message):
        _grey(tmp_path, im, "bad.tif")


@pytest.mark.parametrize("mode,fill,expected", [
    ("L", 77, 77), ("1", 1, 255), ("LA", (77, 0), 77), ("RGBA", (77, 77, 77, 0), 77),
    ("P", 77, 77), ("CMYK", (0, 0, 0, 178), 77), ("I", 77, 77), ("RGB", (77, 77, 77), 77),
])
def test_every_mode_decodes_to_its_grey_value(tmp_path, mode, fill, expected):
    im = Image.new(mode, (8, 8), fill)
    if mode == "P":
        im.putpalette([i for i in range(256) for _ in range(3)])
    name = "x.tif" if mode in ("CMYK", "I") else "x.png"
    a = _grey(tmp_path, im, name)
    assert abs(int(a.mean()) - expected) <= 1, (mode, a.mean())


def test_a_decompression_bomb_is_refused_not_warned(tmp_path, monkeypatch):
    path = _save(tmp_path, Image.new("L", (64, 64)), "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels: over the limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="decompression bomb"):
            decode_image(path, 8, 1)


def test_a_fifo_is_not_an_image(tmp_path):
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(DataError, match="not a regular file"):
        decode_image(tmp_path / "x.png", 8, 1)


def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("images,message", [
    (np.full((2, 8, 8), 40000, dtype=np.uint16), "dtype uint16"),
    (np.full((2, 8, 8), 2.0, dtype=np.float32), r"in \[0, 1\]"),
    (np.full((2, 8, 8), np.nan, dtype=np.float32), "NaN"),
])
def test_arrays_outside_their_range_are_refused(tmp_path, images, message):
    with pytest.raises(DataError, match=message):
        npz_arrays(_npz(tmp_path, images=images), resolution=8)


def test_huge_labels_are_refused_before_naming_classes(tmp_path):
    images = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(DataError, match="labels reach"):
        npz_arrays(_npz(tmp_path, images=images, labels=np.array([0, 2**62])), resolution=8)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated"])
def test_an_empty_or_truncated_npz_is_one_error(tmp_path, content):
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="cannot read"):
        npz_arrays(path, resolution=8)


def test_a_truncated_member_is_one_error(tmp_path):
    path = _npz(tmp_path, images=np.random.default_rng(0).integers(0, 255, (50, 8, 8),
                                                                   dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot read"):
        npz_arrays(path, resolution=8)


def _npy_header(dtype, shape):
    """An npy version 1.0 header that declares ``shape`` of ``dtype``."""
    import struct

    header = repr({"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    header = header.encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _zip_members(path, members, compression):
    import zipfile

    with zipfile.ZipFile(path, "w", compression) as z:
        for name, chunks in members.items():
            with z.open(name, "w", force_zip64=True) as f:
                for chunk in chunks:
                    f.write(chunk)
    return path


def test_a_deflated_bomb_is_refused_before_it_is_inflated(tmp_path):
    """64 MiB of zero pixels in a 65 KB member (the issue's 2.4 MB holding 2.4 GB, smaller):
    refused from the zip directory and the npy header, before a byte is inflated."""
    import zipfile

    shape = (1024, 256, 256)
    members = {"images.npy": [_npy_header(np.uint8, shape)] + [bytes(1 << 20)] * 64}
    path = _zip_members(tmp_path / "d.npz", members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 200_000
    with pytest.raises(DataError, match="more than 100 times"):
        npz_arrays(path, resolution=8)


def test_a_declared_size_beyond_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("YLG_MAX_MEMORY", "1M")
    shape = (128, 256, 256)  # 8 MiB declared, stored: below the ratio's floor
    members = {"images.npy": [_npy_header(np.uint8, shape)] + [bytes(1 << 20)] * 8}
    path = _zip_members(tmp_path / "d.npz", members, zipfile.ZIP_STORED)
    with pytest.raises(Exception, match=r"reading 'images' of .* \(128x256x256 uint8\) needs "
                                         r"about .* the limit is 1.0 MiB"):
        npz_arrays(path, resolution=8)


def test_a_header_that_claims_terabytes_is_refused_without_reading(tmp_path):
    import zipfile

    members = {"images.npy": [_npy_header(np.float64, (10**9, 3, 256, 256))]}
    path = _zip_members(tmp_path / "d.npz", members, zipfile.ZIP_STORED)
    with pytest.raises(DataError, match="more than 100 times"):
        npz_arrays(path, resolution=8)


def test_an_npy_named_npz_is_one_error(tmp_path):
    path = tmp_path / "d.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(DataError, match=r"a single array \(.npy\), not an .npz archive"):
        npz_arrays(path, resolution=8)


def test_a_member_without_the_npy_magic_is_one_error(tmp_path):
    import zipfile

    path = _zip_members(tmp_path / "d.npz", {"images.npy": [b"not an npy file"]},
                        zipfile.ZIP_DEFLATED)
    with pytest.raises(DataError, match="member 'images' is not an npy array"):
        npz_arrays(path, resolution=8)


def test_a_member_of_python_objects_is_refused_unread(tmp_path):
    import zipfile

    members = {"images.npy": [_npy_header(object, (2,)), b"\x80\x04junk"]}
    path = _zip_members(tmp_path / "d.npz", members, zipfile.ZIP_STORED)
    with pytest.raises(DataError, match="holds Python objects"):
        npz_arrays(path, resolution=8)


@pytest.mark.timeout(20)
def test_a_fifo_npz_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "d.npz")
    with pytest.raises(DataError, match="not a regular file"):
        npz_arrays(tmp_path / "d.npz", resolution=8)
