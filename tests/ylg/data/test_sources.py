"""Data: the embedded digits and their fixed split, image folders, npz arrays."""

import numpy as np
import pytest
import torch
from PIL import Image

from ylg.data import (DIGITS_TEST_SIZE, digits, from_model_range, image_folder, load_data,
                      npz_arrays, to_model_range)
from ylg.errors import DataError


def _rows(images):
    flat = images.reshape(len(images), -1).numpy()
    return flat[np.lexsort(flat.T[::-1])]


def test_digits_split_is_a_fixed_partition_of_the_published_set():
    train, test, every = (digits(resolution=8, split=s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(every)) == (1500, DIGITS_TEST_SIZE, 1797)
    np.testing.assert_array_equal(_rows(torch.cat([train.images, test.images])),
                                  _rows(every.images))
    assert torch.equal(digits(resolution=8, split="test").images, test.images)  # fixed
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 29 and counts.max() <= 30  # stratified: 297 / 10 per class


def test_digits_at_8x8_are_scikit_learns_values():
    from sklearn.datasets import load_digits

    d = digits(resolution=8, split="all")
    expected = np.round(load_digits().images / 16 * 255).astype(np.uint8)
    np.testing.assert_array_equal(d.images[:, 0].numpy(), expected)
    np.testing.assert_array_equal(d.labels.numpy(), load_digits().target)


def test_digits_resized_and_replicated():
    d = digits(resolution=32, channels=3)
    assert d.images.shape == (1500, 3, 32, 32) and d.images.dtype == torch.uint8
    assert torch.equal(d.images[:, 0], d.images[:, 2])
    x = to_model_range(d.images)
    assert x.min() == -1 and x.max() == 1
    assert torch.equal(from_model_range(x), d.images)


def _png(path, size, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_classes_skips_unreadable_and_ignores_other_files(tmp_path):
    _png(tmp_path / "cat" / "a.png", (20, 20), "red")
    _png(tmp_path / "cat" / "b.jpg", (31, 17), "red")
    _png(tmp_path / "dog" / "c.png", (8, 8), "blue")
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    d = image_folder(tmp_path, resolution=16)
    assert d.class_names == ("cat", "dog")
    assert d.labels.tolist() == [0, 0, 1]
    assert d.images.shape == (3, 3, 16, 16)
    assert len(d.skipped) == 1 and d.skipped[0][0].endswith("broken.png")
    assert (d.images[2, 2] == 255).all() and (d.images[2, 0] == 0).all()  # blue


def test_image_folder_centre_crops(tmp_path):
    im = Image.new("L", (30, 10), 255)
    im.paste(0, (10, 0, 20, 10))  # a black centre square between white sides
    im.save(tmp_path / "x.png")
    d = image_folder(tmp_path, resolution=10, channels=1)
    assert d.num_classes == 1 and d.images.shape == (1, 1, 10, 10)
    assert (d.images == 0).all()


def test_empty_or_unreadable_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no readable image"):
        image_folder(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="1 unreadable"):
        image_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        image_folder(tmp_path / "missing")


def test_npz_layouts(tmp_path):
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=nhwc, labels=np.arange(6) % 3)
    a = npz_arrays(tmp_path / "a.npz", resolution=16)
    np.testing.assert_array_equal(a.images.numpy(), nhwc.transpose(0, 3, 1, 2))
    assert a.num_classes == 3
    np.savez(tmp_path / "b.npz", images=nhwc.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    b = load_data(tmp_path / "b.npz", resolution=16)
    assert torch.equal(a.images, b.images) and b.num_classes == 1


@pytest.mark.parametrize("arrays,match", [
    (dict(pixels=np.zeros((2, 8, 8), np.uint8)), "no 'images'"),
    (dict(images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0.5, 1.0])), "labels"),
    (dict(images=np.zeros((0, 8, 8), np.uint8)), "non-empty"),
])
def test_bad_npz_is_an_error(tmp_path, arrays, match):
    np.savez(tmp_path / "x.npz", **arrays)
    with pytest.raises(DataError, match=match):
        npz_arrays(tmp_path / "x.npz")


def test_unknown_data_is_an_error(tmp_path):
    with pytest.raises(DataError, match="neither"):
        load_data(tmp_path / "nothing.npz")
