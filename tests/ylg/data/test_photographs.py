"""The photographs shipped in scikit-image's wheel: crops, splits, determinism."""

import numpy as np
import pytest
import torch
from PIL import Image

from ifg.errors import InvalidArgument
from ylg.data import photographs as photos_module
from ylg.errors import DataError
from ylg.data.photographs import TEST_PHOTOS, TRAIN_PHOTOS, photo_folder, photos


def test_every_photo_ships_in_the_installed_wheel():
    folder = photo_folder()
    for name in TRAIN_PHOTOS + TEST_PHOTOS:
        assert (folder / name).is_file(), name
    assert not set(TRAIN_PHOTOS) & set(TEST_PHOTOS)


def test_crops_are_deterministic_for_a_seed_and_differ_between_seeds():
    a = photos(resolution=8, split="test", count=8, seed=3)
    b = photos(resolution=8, split="test", count=8, seed=3)
    c = photos(resolution=8, split="test", count=8, seed=4)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_classes_and_channels(channels):
    d = photos(resolution=8, split="test", count=5, channels=channels)
    assert d.images.shape == (5, channels, 8, 8) and d.images.dtype == torch.uint8
    assert d.class_names == ("photo",) and d.labels.tolist() == [0] * 5


def test_no_test_crop_comes_from_a_training_photo(tmp_path, monkeypatch):
    # one flat colour per photograph: a crop's colour names the photograph it came from
    shade = {name: 10 + 15 * i for i, name in enumerate(TRAIN_PHOTOS + TEST_PHOTOS)}
    for name, v in shade.items():
        Image.new("L", (64, 48), v).save(tmp_path / name, format="PNG")
    monkeypatch.setattr(photos_module, "photo_folder", lambda: tmp_path)
    for split, names in (("train", TRAIN_PHOTOS), ("test", TEST_PHOTOS)):
        got = set(np.unique(photos(resolution=8, split=split, count=40, channels=1).images.numpy()))
        assert got == {shade[n] for n in names}, split


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgument, match="split"):
        photos(resolution=8, split="validation")
    with pytest.raises(InvalidArgument, match="channels"):
        photos(resolution=8, channels=2)


def test_missing_scikit_image_names_the_install(monkeypatch):
    monkeypatch.setattr(photos_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install scikit-image"):
        photos(resolution=8, count=1)


def test_load_data_reads_photos_with_their_split():
    from ylg.data import load_data

    test = load_data("photos", resolution=8, split="test")
    assert test.source == "photos:test" and test.images.shape[1:] == (3, 8, 8)
    assert load_data("photos", resolution=8, split="test", channels=1).images.shape[1] == 1


def test_the_images_task_holds_out_the_test_photographs():
    from ylg.compare.tasks import ImagesTask

    t = ImagesTask(data="photos", resolution=8)
    test = photos(resolution=8, split="test")
    assert torch.equal(t.test, t._pixels(test)) and t.channels == 3
