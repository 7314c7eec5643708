"""ylg train / sample / interpolate: files written, exit codes, one-line errors."""

import json

import pytest
from PIL import Image

from ylg_cli.main import main
from .clirun import runner

TINY = ["--width", "8", "--batch-size", "4", "--log-every", "1", "--quiet", "--device", "cpu"]


run = runner(main)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--attention", "dense", "--steps", "2", "--sample-every", "1",
                 "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_config_log_samples_and_checkpoint(run_dir):
    assert json.loads((run_dir / "config.json").read_text())["width"] == 8
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
    assert {"loss_d", "loss_g", "steps_per_s"} <= set(json.loads(lines[0]))
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == \
        ["step_0000001.png", "step_0000002.png"]
    assert (run_dir / "checkpoint.pt").is_file()


def test_resume_continues_and_refuses_model_changes(run_dir):
    bad = run("train", "--out", run_dir, "--resume", "--width", "16", "--quiet")
    assert bad.exit_code == 2
    assert bad.output.strip().startswith("Error: a resumed run cannot change --width")
    spelt = run("train", "--out", run_dir, "--resume", "--batch-size", "8", "--quiet")
    assert spelt.exit_code == 2
    assert "cannot change --batch-size: checkpoint 4, asked 8" in spelt.output
    assert "batch_size" not in spelt.output and "--eval-every" in spelt.output
    good = run("train", "--out", run_dir, "--resume", "--steps", "3", "--quiet")
    assert good.exit_code == 0, good.output
    assert json.loads((run_dir / "config.json").read_text())["steps"] == 3


def test_sample_draws_the_asked_classes(run_dir, tmp_path):
    out = run("sample", "--checkpoint", run_dir / "checkpoint.pt", "--classes", "0,3,7", "--n",
              "6", "-o", tmp_path / "g.png")
    assert out.exit_code == 0, out.output
    im = Image.open(tmp_path / "g.png")
    # 2 per class, one class per row; 32-pixel digits scaled x2, 2-pixel gaps scaled x2
    assert im.size == (2 * (64 + 4) + 4, 3 * (64 + 4) + 4)


def test_sample_draws_classes_by_the_names_in_the_checkpoint(run_dir, tmp_path):
    import torch

    from ylg.sample import load_generator

    out = run("sample", "--checkpoint", run_dir / "checkpoint.pt", "--classes", "seven,three",
              "--n", "4", "-o", tmp_path / "names.png")
    assert out.exit_code == 0, out.output
    assert "class(es) seven,three (7,3)" in out.output
    _, info = load_generator(run_dir / "checkpoint.pt")
    assert info["class_names"][7] == "seven"
    by_index = run("sample", "--checkpoint", run_dir / "checkpoint.pt", "--classes", "7,3",
                   "--n", "4", "-o", tmp_path / "index.png")
    assert by_index.exit_code == 0
    assert Image.open(tmp_path / "names.png").tobytes() == \
        Image.open(tmp_path / "index.png").tobytes()
    # a checkpoint without names (older ones): indices still work, names are refused
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    del state["class_names"]
    torch.save(state, tmp_path / "old.pt")
    assert run("sample", "--checkpoint", tmp_path / "old.pt", "--classes", "7,3", "--n", "4",
               "-o", tmp_path / "old.png").exit_code == 0
    bad = run("sample", "--checkpoint", tmp_path / "old.pt", "--classes", "seven", "-o",
              tmp_path / "x.png")
    assert bad.exit_code == 2 and "'seven' is not a class index 0..9" in bad.output


def test_interpolate_writes_one_walk_per_row(run_dir, tmp_path):
    out = run("interpolate", "--checkpoint", run_dir / "checkpoint.pt", "--class", "3",
              "--rows", "2", "--steps", "5", "-o", tmp_path / "w.png")
    assert out.exit_code == 0, out.output
    assert Image.open(tmp_path / "w.png").size == (5 * 68 + 4, 2 * 68 + 4)


def test_interpolate_takes_a_class_by_name_as_sample_does(run_dir, tmp_path):
    ckpt = run_dir / "checkpoint.pt"
    by_name = run("interpolate", "--checkpoint", ckpt, "--class", "three", "--rows", "1",
                  "--steps", "2", "-o", tmp_path / "name.png")
    assert by_name.exit_code == 0 and "class three (3)" in by_name.output, by_name.output
    assert run("interpolate", "--checkpoint", ckpt, "--class", "3", "--rows", "1", "--steps", "2",
               "-o", tmp_path / "index.png").exit_code == 0
    assert Image.open(tmp_path / "name.png").tobytes() == \
        Image.open(tmp_path / "index.png").tobytes()
    bad = run("interpolate", "--checkpoint", ckpt, "--class", "3,4", "-o", tmp_path / "w.png")
    assert bad.exit_code == 2 and bad.output.strip() == "Error: give one class, got '3,4'"


@pytest.mark.parametrize("args,message", [
    (["sample", "--checkpoint", "{bad}", "-o", "x.png"], "corrupt"),
    (["sample", "--checkpoint", "{ckpt}", "--classes", "12", "-o", "x.png"], "class 12"),
    (["sample", "--checkpoint", "{ckpt}", "--classes", "sevn", "-o", "x.png"], "one of zero,"),
    (["interpolate", "--checkpoint", "{missing}", "--class", "1", "-o", "x.png"], "not exist"),
    (["train", "--out", "{tmp}", "--attention-resolution", "32", "--quiet"], "--attention-resolution must"),
    (["train", "--out", "{tmp}", "--data", "{tmp}/none.npz", "--quiet"], "neither"),
])
def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path, args, message):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    names = dict(bad=tmp_path / "bad.pt", ckpt=run_dir / "checkpoint.pt",
                 missing=tmp_path / "missing.pt", tmp=tmp_path)
    out = run(*(a.format(**names) for a in args))
    assert out.exit_code == 2
    assert out.output.count("\n") == 1 and message in out.output


def test_masks_and_attention_together_is_a_usage_error(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"")
    out = run("train", "--masks", tmp_path / "m.npz", "--attention", "dense", "--out", tmp_path)
    assert out.exit_code == 2 and "not both" in out.output


def test_help_shows_examples():
    for command in ("train", "prepare", "sample", "interpolate"):
        out = run(command, "--help")
        assert out.exit_code == 0 and f"ylg {command} " in out.output


def test_train_with_a_mask_file_and_sample_without_it(tmp_path):
    from ifg.io import save
    from ifg.maskset import preset

    masks = tmp_path / "masks.npz"
    save(preset("ylg", key_grid=(8, 8), query_grid=(16, 16)), masks)
    out = run("train", "--masks", masks, "--width", "16", "--steps", "1", "--out", tmp_path / "r",
              *TINY[2:])
    assert out.exit_code == 0, out.output
    masks.unlink()  # the checkpoint carries its masks
    out = run("sample", "--checkpoint", tmp_path / "r" / "checkpoint.pt", "--n", "2", "-o",
              tmp_path / "g.png")
    assert out.exit_code == 0, out.output


def test_a_mask_file_that_does_not_fit_names_the_grids(tmp_path):
    from ifg.io import save
    from ifg.maskset import preset

    save(preset("ylg", key_grid=(16, 16), query_grid=(32, 32)), tmp_path / "m.npz")
    out = run("train", "--masks", tmp_path / "m.npz", "--width", "16", "--out", tmp_path / "r",
              "--quiet")
    assert out.exit_code == 2
    assert "needs query grid 16x16 and key grid 8x8" in out.output


def test_prepare_then_train_on_the_prepared_folder(tmp_path):
    for i in range(4):
        (tmp_path / "src" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 36), (60 * i, 0, 0)).save(
            tmp_path / "src" / f"c{i % 2}" / f"{i}.png")
    out = run("prepare", tmp_path / "src", "--resolution", "32", "--workers", "1", "--quiet",
              "-o", tmp_path / "prep")
    assert out.exit_code == 0, out.output
    assert out.output.strip().endswith(f"4 images, 2 classes, 3 channel(s) at 32x32: "
                                       f"{tmp_path / 'prep'}")
    again = run("prepare", tmp_path / "src", "--resolution", "32", "--quiet",
                "-o", tmp_path / "prep")
    assert again.exit_code == 0 and again.output == out.output  # finished: left as it is
    trained = run("train", "--attention", "dense", "--data", tmp_path / "prep", "--steps", "2",
                  "--out", tmp_path / "run", *TINY)
    assert trained.exit_code == 0, trained.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"] == str(tmp_path / "prep")
    wrong = run("train", "--data", tmp_path / "prep", "--resolution", "64", "--steps", "1",
                "--out", tmp_path / "run64", *TINY)
    assert wrong.exit_code == 2 and "prepared with resolution 32, not 64" in wrong.output
    assert wrong.output.count("\n") == 1


def test_prepare_bad_input_is_one_line_and_exit_2(tmp_path):
    out = run("prepare", tmp_path / "missing", "--resolution", "32", "-o", tmp_path / "p")
    assert out.exit_code == 2 and out.output.count("\n") == 1 and "does not exist" in out.output
    out = run("prepare", tmp_path, "--resolution", "48", "-o", tmp_path / "p")
    assert out.exit_code == 2 and "48" in out.output


def test_a_cpu_run_of_hours_stops_in_one_line_unless_long_ok(tmp_path, monkeypatch):
    monkeypatch.setattr("ylg.eta.ESTIMATE_STOP", 0.0)  # any estimate is "hours" here
    args = ["train", "--attention", "none", "--steps", "4", *TINY]
    stopped = run(*args, "--out", tmp_path / "a")
    assert stopped.exit_code == 2, stopped.output
    line = stopped.output.strip().splitlines()[-1]
    assert line.startswith("Error: stopped after step 3: this run would take ") and \
        line.endswith("or give --long-ok to run it anyway")
    assert not (tmp_path / "a").exists()
    went_on = run(*args, "--long-ok", "--out", tmp_path / "a")
    assert went_on.exit_code == 0, went_on.output
    assert json.loads((tmp_path / "a" / "config.json").read_text())["long_ok"] is True


def test_train_defaults_to_the_papers_ylg_model():
    from ylg_cli.main import train

    assert {p.name: p.default for p in train.params}["attention"] == "ylg"
    assert "--attention ylg" in run("train", "--help").output


def test_ctrl_c_ends_with_sigints_status_after_the_helpful_line(tmp_path, monkeypatch):
    import os
    import signal

    import ylg.train as training

    step_of = training.train_step

    def interrupted_in_step_2(*args, **kwargs):
        if kwargs["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return step_of(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", interrupted_in_step_2)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        out = run("train", "--attention", "none", "--steps", "4", "--out", tmp_path / "r", *TINY)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert out.exit_code == 130, out.output  # a shell's status for SIGINT: 128 + 2
    assert "Aborted!" not in out.output
    assert out.output.strip().splitlines()[-1].startswith("warning: interrupted (SIGINT): the "
                                                          "checkpoint of step 2 is in")


def test_sample_and_interpolate_name_the_classes(run_dir, tmp_path):
    out = run("sample", "--checkpoint", run_dir / "checkpoint.pt", "--classes", "seven,3", "--n",
              "4", "-o", tmp_path / "g.png")
    assert out.exit_code == 0, out.output
    assert out.output.startswith("4 samples of class(es) seven,three (7,3): ")
    walk = run("interpolate", "--checkpoint", run_dir / "checkpoint.pt", "--class", "3", "--rows",
               "1", "--steps", "2", "-o", tmp_path / "w.png")
    assert walk.exit_code == 0, walk.output
    assert walk.output.startswith("1 walk(s) of 2 images, class three (3): ")


def test_the_sample_grid_of_few_classes_is_near_square(tmp_path):
    import torch

    from ylg.config import TrainConfig
    from ylg.run.folder import RunFolder

    cfg = TrainConfig(out=str(tmp_path), attention="none")
    for names, columns in ((("flower", "china"), 8), (tuple("abc"), 9),
                           (tuple("0123456789"), 10)):
        folder = RunFolder(tmp_path, cfg, start=0, resume=False, class_names=names)
        folder.samples(1, torch.zeros(64, 3, 32, 32))
        width, height = Image.open(tmp_path / "samples" / "step_0000001.png").size
        assert width == 2 * (columns * 34 + 2)  # 32-pixel images and 2-pixel gaps, scaled x2
        assert 0.6 < width / height < 1.7


def test_a_finished_run_leaves_no_lock_file(run_dir):
    assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / ".lock").exists()
