"""A run folder from someone else: its files are never written through a link, its log is read
bounded, typed and from a regular file only, and drawing the curves never stops a run."""

import json
import os

import pytest

from ifg.errors import YLGError
from ylg.run import files as runfiles
from ylg.run.folder import read_log as resume_log
from ylg.run.lock import _open
from ylg.train import TrainConfig, train
from ylg.viz import plot_training, read_log

TINY = dict(width=8, batch_size=4, attention="none", log_every=1, sample_every=1000,
            checkpoint_every=1, num_samples=4, device="cpu")


def _train(out, steps, **kw):
    return train(TrainConfig(out=str(out), steps=steps, **{**TINY, **kw}), progress=False,
                 log=lambda m: None)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text("mine\n")
    return path


@pytest.mark.parametrize("name", [".lock", "log.jsonl", "config.json", "curves.png",
                                  "checkpoint.pt", "samples"])
def test_a_new_run_into_a_folder_whose_file_is_a_link_is_refused(tmp_path, victim, name):
    run = tmp_path / "run"
    run.mkdir()
    (run / name).symlink_to(victim)
    with pytest.raises(YLGError, match=f"{name}' is a symbolic link"):
        _train(run, 1)
    assert victim.read_text() == "mine\n"


def test_a_resume_through_a_linked_log_is_refused_and_the_target_kept(tmp_path, victim):
    _train(tmp_path / "run", 1)
    log = tmp_path / "run" / "log.jsonl"
    log.unlink()
    log.symlink_to(victim)
    with pytest.raises(YLGError, match="is a symbolic link"):
        train(TrainConfig(out=str(tmp_path / "run")), resume=True, overrides={"steps": 2},
              progress=False, log=lambda m: None)
    assert victim.read_text() == "mine\n"


def test_the_lock_is_never_opened_through_a_link_made_after_the_check(tmp_path, victim):
    (tmp_path / ".lock").symlink_to(victim)
    with pytest.raises(YLGError, match="symbolic link"):
        _open(tmp_path / ".lock")
    assert victim.read_text() == "mine\n"


def test_plot_refuses_a_linked_figure_and_never_writes_the_target(tmp_path, victim):
    (tmp_path / "log.jsonl").write_text('{"step": 1, "loss_d": 1.0}\n')
    (tmp_path / "curves.png").symlink_to(victim)
    with pytest.raises(YLGError, match="curves.png' is a symbolic link"):
        plot_training(tmp_path)
    assert victim.read_text() == "mine\n"


def test_a_figure_written_over_a_link_replaces_the_link(tmp_path, victim):
    from ifg.render import enumeration_figure, save_figure

    (tmp_path / "f.png").symlink_to(victim)
    save_figure(enumeration_figure(), tmp_path / "f.png")
    assert victim.read_text() == "mine\n"
    assert not (tmp_path / "f.png").is_symlink()


@pytest.mark.timeout(20)
def test_a_fifo_log_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "log.jsonl")
    with pytest.raises(YLGError, match="not a regular file"):
        resume_log(tmp_path / "log.jsonl", 10)
    with pytest.raises(YLGError, match="not a regular file"):
        read_log(tmp_path / "log.jsonl")


@pytest.mark.timeout(20)
def test_a_log_linked_to_dev_zero_is_refused_without_reading(tmp_path):
    (tmp_path / "log.jsonl").symlink_to("/dev/zero")
    with pytest.raises(YLGError, match="symbolic link"):
        resume_log(tmp_path / "log.jsonl", 10)
    with pytest.raises(YLGError, match="symbolic link"):
        plot_training(tmp_path)


def test_a_log_larger_than_the_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(runfiles, "MAX_LOG_BYTES", 1000)
    (tmp_path / "log.jsonl").write_text('{"step": 1, "loss_d": 1.0}\n' * 100)
    with pytest.raises(YLGError, match="more than the 1,000 bytes read"):
        read_log(tmp_path / "log.jsonl")


HOSTILE_LINES = [
    b"[1, 2, 3]", b'{"loss_d": 1.0}', b'{"step": "3", "loss_d": 1.0}',
    b'{"step": null}', b'{"step": {"a": 1}}', b'{"step": [1]}', b'{"step": true}',
    b'{"step": -1}', b'{"step": ' + b"9" * 400 + b"}", b"\xff\xfe\x00binary",
    b"[" * 100_000 + b"]" * 100_000, b'{"step": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


def test_hostile_log_lines_are_skipped_by_resume_and_plot(tmp_path):
    good = [b'{"step": 1, "loss_d": 1.0, "loss_g": 2.0}',
            b'{"step": 2, "loss_d": 0.5, "loss_g": ' + b"9" * 400 + b', "note": [1]}',
            b'{"step": 2, "eval": {"fid": 3.0, "bad": ' + b"9" * 400 + b'}}']
    (tmp_path / "log.jsonl").write_bytes(b"\n".join(HOSTILE_LINES + good) + b"\n")
    records = read_log(tmp_path / "log.jsonl")
    assert records == [{"step": 1, "loss_d": 1.0, "loss_g": 2.0}, {"step": 2, "loss_d": 0.5},
                       {"step": 2, "eval": {"fid": 3.0}}]
    assert [json.loads(line)["step"] for line in resume_log(tmp_path / "log.jsonl", 1)] == [1]
    assert plot_training(tmp_path).stat().st_size > 0


def test_a_resume_keeps_the_good_lines_of_a_hostile_log(tmp_path):
    _train(tmp_path / "run", 1)
    log = tmp_path / "run" / "log.jsonl"
    log.write_bytes(log.read_bytes() + b"\n".join(HOSTILE_LINES) + b"\n")
    train(TrainConfig(out=str(tmp_path / "run")), resume=True, overrides={"steps": 2},
          progress=False, log=lambda m: None)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize("checkpoint_every,log_every,steps", [(1, 10, 2), (1, 5, 3), (2, 5, 3)])
def test_a_checkpoint_before_the_first_log_line_never_stops_the_run(tmp_path, checkpoint_every,
                                                                     log_every, steps):
    result = _train(tmp_path / "run", steps, checkpoint_every=checkpoint_every,
                    log_every=log_every)
    assert result.step == steps
    assert (tmp_path / "run" / "curves.png").exists()  # the last step logs, then draws


def test_ctrl_c_before_the_first_log_line_ends_as_an_interrupt_with_its_checkpoint(tmp_path,
                                                                                 monkeypatch):
    """On main the curves' 'nothing to draw' ended this run with exit 2 instead."""
    import signal

    import ylg.train

    real = ylg.train.train_step

    def interrupted(*args, step, **kw):
        out = real(*args, step=step, **kw)
        if step == 1:
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(ylg.train, "train_step", interrupted)
    said = []
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "run"), steps=5, **{**TINY, "log_every": 10,
                                                                  "checkpoint_every": 10}),
              progress=False, log=said.append)
    assert any("interrupted (SIGINT)" in m for m in said)
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_full_disk_while_logging_names_the_log():
    with pytest.raises(OSError) as err:
        runfiles.append_line("/dev/full", '{"step": 1}')
    assert err.value.errno == 28 and err.value.filename == "/dev/full"
