"""Prepared folders: the same data as the image folder, memory-mapped, resumable, refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ylg.data.prepared
from ylg.data import image_folder, load_data
from ylg.errors import DataError
from ylg.data.prepared import load_prepared, prepare


@pytest.fixture
def source(tmp_path):
    """Two classes of 7 and 5 images of various sizes, one broken file, one text file."""
    rng = np.random.default_rng(0)
    root = tmp_path / "src"
    for name, n in (("cat", 7), ("dog", 5)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            h, w = rng.integers(9, 30, 2)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                root / name / f"{i:02d}.png")
    (root / "dog" / "03b.png").write_bytes(b"\x89PNG broken")
    (root / "dog" / "readme.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("workers,channels", [(1, 3), (2, 1)])
def test_prepared_data_equal_the_image_folder(source, tmp_path, workers, channels):
    meta = prepare(source, tmp_path / "p", resolution=8, channels=channels, workers=workers,
                   chunk=5)
    assert (meta["files"], meta["count"], meta["done"], meta["complete"]) == (13, 12, 13, True)
    mapped, direct = load_data(tmp_path / "p", resolution=8), image_folder(
        source, resolution=8, channels=channels)
    assert torch.equal(mapped.images, direct.images)
    assert torch.equal(mapped.labels, direct.labels)
    assert mapped.class_names == direct.class_names == ("cat", "dog")
    assert [f for f, _ in mapped.skipped] == [f for f, _ in direct.skipped]
    assert mapped.skipped[0][0].endswith("03b.png")


def test_the_images_are_memory_mapped_not_read(source, tmp_path):
    prepare(source, tmp_path / "p", resolution=8, workers=1)
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc to see the mappings")
    d = load_data(tmp_path / "p", resolution=8)
    assert str((tmp_path / "p" / "images.npy").resolve()) in maps.read_text()
    assert d.images.dtype == torch.uint8 and d.images.shape == (12, 3, 8, 8)


def test_a_killed_preparation_continues_to_the_same_result(source, tmp_path, monkeypatch):
    calls = []

    def dies_on_the_eighth(job, decode=ylg.data.prepared._decode):
        calls.append(job)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return decode(job)

    monkeypatch.setattr(ylg.data.prepared, "_decode", dies_on_the_eighth)
    with pytest.raises(KeyboardInterrupt):
        prepare(source, tmp_path / "p", resolution=8, workers=1, chunk=5)
    monkeypatch.undo()
    meta = json.loads((tmp_path / "p" / "prepared.json").read_text())
    assert (meta["done"], meta["count"], meta["complete"]) == (5, 5, False)  # one whole chunk
    with pytest.raises(DataError, match="stopped at 5 of 13 files; run `ylg prepare` again"):
        load_data(tmp_path / "p", resolution=8)

    prepare(source, tmp_path / "p", resolution=8, workers=1, chunk=5)
    prepare(source, tmp_path / "whole", resolution=8, workers=1)
    a, b = load_prepared(tmp_path / "p"), load_prepared(tmp_path / "whole")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.skipped == b.skipped


def test_a_finished_preparation_is_not_redone(source, tmp_path, monkeypatch):
    first = prepare(source, tmp_path / "p", resolution=8, workers=1)
    monkeypatch.setattr(ylg.data.prepared, "_decode", lambda job: pytest.fail("decoded again"))
    assert prepare(source, tmp_path / "p", resolution=8, workers=1) == first


def test_other_settings_or_a_changed_source_are_refused(source, tmp_path):
    prepare(source, tmp_path / "p", resolution=8, workers=1)
    with pytest.raises(DataError, match="another resolution"):
        prepare(source, tmp_path / "p", resolution=16, workers=1)
    Image.new("RGB", (9, 9)).save(source / "cat" / "new.png")
    with pytest.raises(DataError, match="another file count, file list"):
        prepare(source, tmp_path / "p", resolution=8, workers=1)
    with pytest.raises(DataError, match="prepared with resolution 8, not 32"):
        load_data(tmp_path / "p", resolution=32)
    with pytest.raises(DataError, match="prepared with channels 3, not 1"):
        load_data(tmp_path / "p", resolution=8, channels=1)


def test_bad_sources_and_outputs_are_one_line_errors(source, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="exists and is not a prepared data folder"):
        prepare(source, tmp_path / "full", resolution=8, workers=1)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(DataError, match="does not exist"):
        prepare(tmp_path / "missing", tmp_path / "p", resolution=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image file"):
        prepare(tmp_path / "empty", tmp_path / "p", resolution=8)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"no readable image .*\(1 unreadable"):
        prepare(tmp_path / "junk", tmp_path / "p2", resolution=8, workers=1)
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "prepared.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a prepared data folder"):
        load_data(tmp_path / "fake")
