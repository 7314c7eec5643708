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


@pytest.mark.timeout(120)
def test_a_failed_reservation_leaves_nothing_and_the_same_command_runs_later(tmp_path):
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
    assert not (tmp_path / "prep").exists()  # no images.npy left to refuse the next run
    meta = prepare(src, tmp_path / "prep", resolution=32, channels=3, workers=1)
    assert meta["complete"] and meta["count"] == 40


@pytest.mark.parametrize("garbage", [b"", b"not an npy file", b"\x93NUMPY\x01\x00\xff\xff"])
def test_continuing_over_garbage_arrays_is_one_error(prepared, garbage):
    _edit_meta(prepared, done=0, count=0, complete=False)
    (prepared / "images.npy").write_bytes(garbage)
    with pytest.raises(DataError, match="unreadable"):
        prepare(prepared.parent / "src", prepared, resolution=4, channels=1, workers=1)


def _children(pid):
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.timeout(120)
def test_sigterm_ends_the_workers_too_without_their_tracebacks(tmp_path):
    import os
    import signal
    import time

    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        Image.new("RGB", (8, 8)).save(src / f"{i}.png")
    code = textwrap.dedent(f"""
        import sys, time
        import ylg.data.prepared
        real = ylg.data.prepared._decode
        def slow(job):
            time.sleep(0.2)
            return real(job)
        ylg.data.prepared._decode = slow
        from ylg.data.prepared import prepare
        print("start", flush=True)
        prepare({str(src)!r}, {str(tmp_path / "prep")!r}, resolution=8, workers=2, chunk=8)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert "Traceback" not in err, err
    time.sleep(0.5)
    alive = [w for w in workers if os.path.exists(f"/proc/{w}")
             and open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    assert alive == []
