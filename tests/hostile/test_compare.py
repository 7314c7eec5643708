"""``ylg compare`` with hostile sizes and a cache folder from someone else: sizes refused before
anything is built, every cached result checked (refused ones trained again, with a warning)."""

import json
import logging
import os

import pytest

import ylg.compare.run as run
import ylg.data
from ylg.compare import Settings, compare

TINY = Settings(steps=2, dim=8)
TINY_FLOW = {"grid": (2, 2), "eval_examples": 8}


@pytest.mark.parametrize("side", [256, 512])
def test_a_grid_too_large_is_refused_before_the_data_and_the_masks(side, monkeypatch):
    """--grid 256 loaded and resized the data first (1,435 MB before the refusal on main), 512
    ended in a RuntimeError traceback."""
    monkeypatch.setattr(ylg.data, "load_data", lambda *a, **k: pytest.fail("data loaded"))
    monkeypatch.setattr(run, "resolve", lambda *a, **k: pytest.fail("masks built"))
    with pytest.raises(Exception, match=f"comparing on a {side}x{side} grid .* needs about"):
        compare(["ylg", "dense"], task="images", seeds=1, settings=TINY,
                task_options={"resolution": side, "data": "digits"})


def _one_result(tmp_path):
    compare(["local"], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path)
    (path,) = tmp_path.glob("*.json")
    return path


@pytest.mark.parametrize("content", [
    b"", b'{"score": 0.5, "sec', b"\xff\xfe\x00binary", b"[" * 100_000 + b"]" * 100_000,
    b"[1, 2]", b'{"seconds": 1.0}', b'{"score": 0.5}', b'{"score": "high", "seconds": 1.0}',
    b'{"score": NaN, "seconds": 1.0}', b'{"score": 0.5, "seconds": 1.0, "reachable": "all"}',
    b'{"score": true, "seconds": 1.0}',
], ids=["empty", "truncated", "binary", "deep", "list", "no-score", "no-seconds", "str-score",
        "nan-score", "str-reachable", "bool-score"])
def test_a_bad_cached_result_is_trained_again_with_a_warning(tmp_path, content, caplog):
    path = _one_result(tmp_path)
    good = json.loads(path.read_text())
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="ylg"):
        again = compare(["local"], seeds=1, settings=TINY, task_options=TINY_FLOW,
                        cache=tmp_path)
    assert "is not usable" in caplog.text
    assert again.runs["local"][0]["score"] == good["score"]
    assert json.loads(path.read_text())["score"] == good["score"]  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file


@pytest.mark.timeout(30)
def test_a_cached_result_that_is_a_fifo_or_a_link_is_never_read(tmp_path, caplog):
    path = _one_result(tmp_path)
    path.unlink()
    os.mkfifo(path)
    with caplog.at_level(logging.WARNING, logger="ylg"):
        compare(["local"], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path)
    assert "not a regular file" in caplog.text
    path.unlink()
    path.symlink_to("/dev/zero")
    compare(["local"], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path)
    assert not path.is_symlink()


def test_a_full_disk_while_caching_leaves_no_temporary_file(tmp_path, monkeypatch):
    import ifg.files

    real = ifg.files.atomic_write
    monkeypatch.setattr(run, "atomic_write", lambda p, d, **kw: real(
        p, lambda f: (_ for _ in ()).throw(OSError(28, "No space left on device")), **kw))
    with pytest.raises(OSError, match="No space left") as err:
        compare(["local"], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path)
    assert err.value.filename is not None and str(tmp_path) in str(err.value.filename)
    assert list(tmp_path.iterdir()) == []
