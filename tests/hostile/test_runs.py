"""Training runs from strangers' settings and concurrent starts: one owner per run folder,
resumable from any spelling of the folder, stopped with the last good checkpoint on NaN."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

import ylg.train
from ylg.run.checkpoint import load_checkpoint
from ylg.run.lock import RunLocked
from ylg.train import TrainConfig, TrainingDiverged, train

TINY = dict(width=8, batch_size=4, attention="none", log_every=1, sample_every=1000,
            checkpoint_every=1, num_samples=4, device="cpu")


def _train(out, steps, **kw):
    return train(TrainConfig(out=str(out), steps=steps, **TINY), progress=False,
                 log=lambda m: None, **kw)


def test_a_second_start_into_a_held_folder_is_refused_naming_the_holder(tmp_path):
    hold = textwrap.dedent("""
        import sys, time
        from ylg.run.lock import run_lock
        with run_lock(sys.argv[1]):
            print("held", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / "run")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=f"pid {proc.pid}"):
            _train(tmp_path / "run", 1)
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock"]
    finally:
        proc.kill()
        proc.wait()


def test_a_refused_start_leaves_no_folder_behind(tmp_path):
    with pytest.raises(Exception):
        train(TrainConfig(out=str(tmp_path / "new"), steps=1, **{**TINY, "data": "nope.npz"}),
              progress=False, log=lambda m: None)
    assert not (tmp_path / "new").exists()


def test_a_refused_start_into_an_existing_folder_leaves_it_as_it_was(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine\n")
    monkeypatch.setenv("YLG_MAX_MEMORY", "1M")
    with pytest.raises(Exception, match="training at batch 4, .* needs about"):
        _train(tmp_path / "run", 1)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["notes.txt"]  # no .lock left


def test_resume_works_through_another_spelling_of_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _train("run", 1)
    (tmp_path / "moved").parent.mkdir(exist_ok=True)
    (tmp_path / "run").rename(tmp_path / "moved")
    result = train(TrainConfig(out=str(tmp_path / "moved")), resume=True,
                   overrides={"steps": 2}, progress=False, log=lambda m: None)
    assert result.step == 2
    assert load_checkpoint(tmp_path / "moved" / "checkpoint.pt")["step"] == 2


def test_non_finite_losses_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path,
                                                                         monkeypatch):
    real_step = ylg.train.train_step

    def poisoned(*args, step, **kw):
        out = real_step(*args, step=step, **kw)
        return {**out, "loss_d": torch.tensor(float("nan"))} if step == 2 else out

    monkeypatch.setattr(ylg.train, "train_step", poisoned)
    with pytest.raises(TrainingDiverged, match="step 2 .*loss_d=nan"):
        _train(tmp_path / "run", 3)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 1
    for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
