"""One process per run folder: a second holder is refused by pid; a killed holder never blocks."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ylg.runlock import RunLocked, run_lock

HOLD = textwrap.dedent("""
    import sys, time
    from ylg.runlock import run_lock
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
