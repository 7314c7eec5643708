"""One process per run folder: a second holder is refused by pid; a killed holder never blocks."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ylg.run.lock import LOCK_NAME, RunLocked, run_lock

HOLD = textwrap.dedent("""
    import sys, time
    from ylg.run.lock import run_lock
    with run_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_holder_is_refused_naming_the_first_pid(tmp_path, holder):
    with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
        with run_lock(tmp_path / "run"):
            pass


def test_another_spelling_of_the_folder_meets_the_same_lock(tmp_path, holder, monkeypatch):
    os.symlink(tmp_path / "run", tmp_path / "alias")
    monkeypatch.chdir(tmp_path)
    for spelling in ("run", "./run/", "alias", str(tmp_path / "run")):
        with pytest.raises(RunLocked):
            with run_lock(spelling):
                pass


def test_a_lock_left_by_a_killed_run_never_blocks(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    deadline = time.monotonic() + 5
    with run_lock(tmp_path / "run") as lock:
        assert time.monotonic() < deadline
        assert lock.read_text().strip() == str(os.getpid())


def test_the_lock_is_released_when_the_block_ends(tmp_path):
    with run_lock(tmp_path / "run"):
        pass
    with run_lock(tmp_path / "run"):
        pass


@pytest.mark.parametrize("before", [[], ["notes.txt"], [LOCK_NAME, "notes.txt"]])
def test_a_failed_block_leaves_the_folder_as_it_found_it(tmp_path, before):
    run = tmp_path / "run"
    run.mkdir()
    for name in before:
        (run / name).write_text("12345\n")  # an earlier run's lock file is not this run's
    with pytest.raises(ValueError):
        with run_lock(run):
            raise ValueError("refused")
    assert sorted(p.name for p in run.iterdir()) == sorted(before)
    with pytest.raises(ValueError):  # a folder it made goes too
        with run_lock(tmp_path / "new" / "run"):
            raise ValueError("refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "run"]
    with run_lock(run) as lock:  # a run that ends well leaves no lock file
        assert lock.read_text().strip() == str(os.getpid())
    assert not lock.exists()
    assert sorted(p.name for p in run.iterdir()) == sorted(set(before) - {LOCK_NAME})


def test_a_start_that_locked_a_removed_lock_file_opens_it_again(tmp_path, monkeypatch):
    """A failed run removes the lock file it made while holding it; a start that had opened
    the file just before then locks a file no path names, and must open the path again."""
    import ylg.run.lock

    opened, real_open = [], ylg.run.lock._open

    def removed_after_the_first_open(path):
        fd, made = real_open(path)
        opened.append(fd)
        if len(opened) == 1:
            path.unlink()  # as a failed run does, between this open and this flock
        return fd, made

    monkeypatch.setattr(ylg.run.lock, "_open", removed_after_the_first_open)
    with run_lock(tmp_path) as lock:
        assert len(opened) == 2 and lock.read_text().strip() == str(os.getpid())
        with pytest.raises(RunLocked):  # the file the path names is the one held
            with run_lock(tmp_path):
                pass
