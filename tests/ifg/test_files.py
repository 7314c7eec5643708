"""ifg.files.atomic_write: the old file or the new, never half; errors name the target."""

import pytest

from ifg.files import atomic_write


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write(tmp_path / "x.bin", b"old")

    def fails(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fails)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_an_unwritable_target_is_named_not_the_temporary(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as err:
        atomic_write(tmp_path / "file" / "m.npz", b"", mkdir=False)
    assert err.value.filename == str(tmp_path / "file" / "m.npz")
    with pytest.raises(FileNotFoundError):  # no folder is made unless asked
        atomic_write(tmp_path / "missing" / "m.npz", b"", mkdir=False)
    assert atomic_write(tmp_path / "made" / "m.npz", b"ok").read_bytes() == b"ok"
