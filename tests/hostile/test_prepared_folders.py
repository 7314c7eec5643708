"""Prepared folders from strangers are validated before training; a full disk is one line."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from ylg.errors import DataError
from ylg.data.prepared import load_prepared, prepare


@pytest.fixture
def prepared(tmp_path):
    src = tmp_path / "src"
    for c in ("a", "b"):
        (src / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(src / c / f"{i}.png")
    out = tmp_path / "prep"
    prepare(src, out, resolution=4, channels=1, workers=1, progress=False)
    return out


def _edit_meta(folder, **changes):
    path = folder / "prepared.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_the_fixture_loads(prepared):
    assert len(load_prepared(prepared)) == 6


@pytest.mark.parametrize("changes,message", [
    ({"count": 7}, "count"),
    ({"count": 9, "done": 9}, "done"),
    ({"resolution": "4"}, "resolution"),
    ({"class_names": "ab"}, "class_names"),
    ({"skipped": [1, 2]}, "skipped"),
    ({"complete": "yes"}, "complete"),
    ({"files": 10**13}, "files"),
])
def test_inconsistent_meta_is_refused(prepared, changes, message):
    _edit_meta(prepared, **changes)
    with pytest.raises(DataError, match=message):
        load_prepared(prepared)


def test_labels_beyond_the_classes_are_refused_before_training(prepared):
    labels = np.load(prepared / "labels.npy")
    labels[2] = 5
    np.save(prepared / "labels.npy", labels)
    with pytest.raises(DataError, match="outside the 2 classes"):
        load_prepared(prepared)


def test_arrays_of_the_wrong_size_are_refused(prepared):
    np.save(prepared / "images.npy", np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(DataError, match="not the size|do not match"):
        load_prepared(prepared)


@pytest.mark.timeout(120)
def test_a_full_disk_during_prepare_is_one_line_not_a_sigbus(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: reserving the map's blocks fails up front."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        Image.new("RGB", (8, 8)).save(src / f"{i}.png")
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        from ylg_cli.main import main
        sys.argv = ["ylg", "prepare", {str(src)!r}, "-o", {str(tmp_path / "prep")!r},
                    "--resolution", "32", "--workers", "1", "--quiet"]
        main()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stderr.startswith("Error: ") and "Traceback" not in out.stderr
    assert "images.npy" in out.stderr
