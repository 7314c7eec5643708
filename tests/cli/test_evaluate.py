"""ylg evaluate and ylg train --eval-every: metrics in the log, JSON, one-line errors."""

import json
import warnings

import pytest
import torch

from ylg_cli.main import main
from ylg.train import TrainConfig, train
from .clirun import runner

TINY = ["--width", "8", "--batch-size", "4", "--quiet", "--device", "cpu", "--attention", "none"]


run = runner(main)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--steps", "2", "--eval-every", "1", "--eval-samples", "20",
                 "--eval-metrics", "domain-fid,accuracy", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


def _log(run_dir):
    return [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]


def test_train_eval_every_writes_metric_lines_per_step(run_dir):
    evals = [line for line in _log(run_dir) if "eval" in line]
    assert [line["step"] for line in evals] == [1, 2]
    for line in evals:
        assert {"domain-fid", "accuracy", "classifier_test_accuracy"} <= set(line["eval"])
        assert line["eval"]["samples"] == 20 and line["eval"]["domain-fid"] > 0
    assert any("loss_d" in line for line in _log(run_dir))  # the loss lines stay


def test_train_refuses_unknown_eval_metrics():
    out = run("train", "--eval-every", "1", "--eval-metrics", "fid,fdi", "--out", "unused",
              *TINY)
    assert out.exit_code == 2
    assert out.output.strip().splitlines()[-1].startswith("Error: unknown metric 'fdi'")


def test_evaluation_does_not_change_training(tmp_path):
    cfg = dict(width=8, batch_size=4, steps=3, attention="none", device="cpu", log_every=1,
               eval_samples=10, eval_metrics="domain-fid")
    plain = train(TrainConfig(out=str(tmp_path / "a"), **cfg), progress=False, log=lambda m: None)
    evaluated = train(TrainConfig(out=str(tmp_path / "b"), eval_every=1, **cfg), progress=False,
                      log=lambda m: None)
    for a, b in zip(plain.G.state_dict().values(), evaluated.G.state_dict().values()):
        assert torch.equal(a, b)
    assert sum("eval" in line for line in _log(tmp_path / "b")) == 3


def test_evaluate_json_repeats_with_the_seed(run_dir):
    args = ["evaluate", "--checkpoint", run_dir / "checkpoint.pt", "--metrics",
            "domain-fid,domain-kid,accuracy", "--samples", "30", "--json", "--quiet",
            "--device", "cpu"]
    first, again = run(*args), run(*args)
    assert first.exit_code == 0, first.output
    a, b = json.loads(first.output), json.loads(again.output)
    assert a == b
    assert a["step"] == 2 and a["weights"] == "ema" and a["data"] == "digits:train"
    assert a["samples"] == 30 and a["real"] == 1500 and 0 <= a["accuracy"] <= 1
    assert {"domain-fid", "domain-kid", "domain-kid_std"} <= set(a)
    other = json.loads(run(*args, "--seed", "1").output)
    assert other["domain-fid"] != a["domain-fid"]


def test_evaluate_reads_an_exported_generator_like_its_checkpoint(run_dir, tmp_path):
    shared = tmp_path / "g.safetensors"
    assert run("export", "--checkpoint", run_dir / "checkpoint.pt", "-o", shared).exit_code == 0
    args = ["--metrics", "domain-fid,accuracy", "--samples", "20", "--real-samples", "50",
            "--json", "--quiet", "--device", "cpu"]
    of_file = run("evaluate", "--checkpoint", shared, *args)
    assert of_file.exit_code == 0, of_file.output
    of_checkpoint = json.loads(run("evaluate", "--checkpoint", run_dir / "checkpoint.pt",
                                   *args).stdout)
    assert {**json.loads(of_file.stdout), "checkpoint": None} == \
        {**of_checkpoint, "checkpoint": None}
    wrong = run("evaluate", "--checkpoint", shared, "--weights", "g", *args)
    assert wrong.exit_code == 2 and "holds the ema weights, not g" in wrong.output


def test_evaluate_prints_a_table_and_the_caveats(run_dir):
    out = run("evaluate", "--checkpoint", run_dir / "checkpoint.pt", "--metrics",
              "domain-fid,accuracy", "--samples", "20", "--quiet", "--device", "cpu")
    assert out.exit_code == 0, out.output
    assert "domain-fid" in out.output and "accuracy" in out.output
    assert "not comparable with published FIDs" in out.output


def test_evaluate_with_a_torchscript_extractor(run_dir, tmp_path):
    path = tmp_path / "pool.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten())).save(
            str(path))
    out = run("evaluate", "--checkpoint", run_dir / "checkpoint.pt", "--metrics",
              "fid,kid,precision,recall,density,coverage", "--features", path, "--samples", "20",
              "--json", "--quiet", "--device", "cpu")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)  # stderr may hold the time estimate of a slow extraction
    assert result["features"].startswith("torchscript-")
    assert result["fid"] > 0 and 0 <= result["precision"] <= 1 and 0 <= result["coverage"] <= 1


@pytest.mark.parametrize("args,message", [
    (["--metrics", "fid,is"], "Error: there is no Inception score"),
    (["--metrics", "fdi"], "Error: unknown metric 'fdi'"),
    (["--weights", "g", "--data", "nowhere"], "Error: --data 'nowhere' is neither"),
    (["--features", "missing.pt", "--metrics", "fid"], "Error: feature extractor 'missing.pt'"),
    (["--metrics", "is", "--inception-logits", "missing.pth"],
     "Error: Inception logits file 'missing.pth' does not exist"),
    (["--metrics", "is", "--inception-logits", "pyproject.toml"],
     "Error: 'pyproject.toml' has sha1 "),
])
def test_evaluate_bad_input_is_one_line_and_exit_2(run_dir, args, message):
    out = run("evaluate", "--checkpoint", run_dir / "checkpoint.pt", "--quiet", "--device", "cpu",
              *args)
    assert out.exit_code == 2, out.output
    assert out.output.strip().startswith(message)
    assert "Traceback" not in out.output


def test_evaluate_missing_checkpoint_and_help():
    out = run("evaluate", "--checkpoint", "nowhere.pt", "--quiet")
    assert out.exit_code == 2 and out.output.startswith("Error: --checkpoint 'nowhere.pt'")
    helped = run("evaluate", "--help")
    assert helped.exit_code == 0
    assert "no Inception score" in helped.output and "ylg evaluate --checkpoint" in helped.output


def test_evaluate_defaults_to_the_domain_metrics_and_bounds_the_real_set(run_dir):
    out = run("evaluate", "--checkpoint", run_dir / "checkpoint.pt", "--samples", "20",
              "--real-samples", "100", "--json", "--quiet", "--device", "cpu")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)  # stderr may carry a time estimate under load
    assert result["real"] == 100 and result["samples"] == 20
    assert {"domain-fid", "domain-kid", "domain-precision", "domain-recall", "accuracy"} <= \
        set(result)
    assert "fid" not in result and "features" not in result  # no Inception by default
    bad = run("evaluate", "--checkpoint", run_dir / "checkpoint.pt", "--real-samples", "0")
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines()[-1] == \
        "Error: --real-samples must be a positive integer, got 0"


def test_train_draws_the_curves_and_ylg_plot_redraws_them(run_dir, tmp_path):
    from PIL import Image

    curves = run_dir / "curves.png"
    assert curves.stat().st_size > 0  # drawn by train at its checkpoint
    out = run("plot", run_dir, "-o", tmp_path / "c.png")
    assert out.exit_code == 0, out.output
    assert Image.open(tmp_path / "c.png").size[0] > Image.open(tmp_path / "c.png").size[1]
    bad = run("plot", tmp_path)
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines()[-1].endswith("is not a run folder: it has no "
                                                        "log.jsonl")


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    """A run trained one step on a colour .npz of 2 classes: data that are not the digits."""
    import numpy as np

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    np.savez(folder / "photos.npz", images=rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(16) % 2)
    result = run("train", "--data", folder / "photos.npz", "--steps", "1", "--out",
                 folder / "run", *TINY)
    assert result.exit_code == 0, result.output
    return folder


@pytest.mark.parametrize("metrics", ["domain-fid", "fid,domain-kid,accuracy"])
def test_evaluate_refuses_the_digits_metrics_for_other_data(photo_run, metrics):
    out = run("evaluate", "--checkpoint", photo_run / "run" / "checkpoint.pt", "--metrics",
              metrics, "--samples", "4", "--quiet", "--device", "cpu")
    assert out.exit_code == 2, out.output
    line = out.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: ")
    assert "judge images with the digits classifier" in line and "not the digits" in line
    assert "use fid,kid" in line


def test_evaluate_defaults_to_fid_and_kid_for_other_data(photo_run, tmp_path):
    path = tmp_path / "pool.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten())).save(
            str(path))
    out = run("evaluate", "--checkpoint", photo_run / "run" / "checkpoint.pt", "--features",
              path, "--samples", "8", "--json", "--quiet", "--device", "cpu")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert {"fid", "kid"} <= set(result) and result["data"].endswith("photos.npz")
    assert not any(k.startswith("domain") or k == "accuracy" for k in result)


def test_train_eval_refuses_the_digits_metrics_for_other_data(photo_run):
    out = run("train", "--data", photo_run / "photos.npz", "--eval-every", "1", "--eval-metrics",
              "domain-fid", "--steps", "1", "--out", photo_run / "refused", *TINY)
    assert out.exit_code == 2, out.output
    assert out.output.strip().splitlines()[-1].startswith("Error: domain-fid judge images with "
                                                          "the digits classifier")
    assert not (photo_run / "refused").exists()  # refused before anything is written


def test_train_eval_default_metrics_follow_the_data(photo_run, monkeypatch, tmp_path):
    import ylg.train

    asked = []
    monkeypatch.setattr(ylg.train, "evaluate_generator",
                        lambda *a, metrics, **k: asked.append(metrics) or {})
    for data in ("digits", str(photo_run / "photos.npz")):
        train(TrainConfig(out=str(tmp_path / str(len(asked))), data=data, width=8, batch_size=4,
                          steps=1, attention="none", device="cpu", eval_every=1),
              progress=False, log=lambda m: None)
    assert asked == ["domain-fid,accuracy", "fid,kid"]


def test_plot_makes_a_missing_output_folder(run_dir, tmp_path):
    out = run("plot", run_dir, "-o", tmp_path / "new" / "deep" / "c.png")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "new" / "deep" / "c.png").stat().st_size > 0
