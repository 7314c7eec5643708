"""ylg invert / attention-map: files written, the JSON, exit codes, one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from ylg_cli.main import main
from .clirun import runner

TINY = ["--batch-size", "4", "--steps", "1", "--log-every", "1", "--quiet", "--device", "cpu"]
BUDGET = ["--steps", "2", "--starts", "2", "--quiet", "--device", "cpu"]


run = runner(main)


def _train(tmp_path_factory, attention, width):
    out = tmp_path_factory.mktemp(attention)
    result = run("train", "--attention", attention, "--width", width, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out / "checkpoint.pt"


@pytest.fixture(scope="module")
def ylg_checkpoint(tmp_path_factory):
    return _train(tmp_path_factory, "ylg", 16)


@pytest.fixture(scope="module")
def plain_checkpoint(tmp_path_factory):
    return _train(tmp_path_factory, "none", 4)


def _one_error_line(result):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    return lines[0]


def test_invert_writes_the_figures_and_the_json(ylg_checkpoint, tmp_path):
    out = tmp_path / "inv"
    result = run("invert", "--checkpoint", ylg_checkpoint, "--test-index", 4, *BUDGET, "-o", out)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "real.png", "reconstruction_pixel.png", "reconstruction_discriminator.png",
        "reconstruction_ylg.png", "comparison.png", "loss_curves.png", "inversion.json"}
    report = json.loads((out / "inversion.json").read_text())
    assert report["target"] == "digits:test[4]" and report["class_given"]
    assert report["settings"] == {"steps": 2, "lr": 0.07, "starts": 2, "noise": 0.0, "seed": 0,
                                  "heads": None}
    assert set(report["methods"]) == {"pixel", "discriminator", "ylg"}
    for name, m in report["methods"].items():
        assert {"psnr", "ssim", "feature_distance", "loss", "class", "seconds", "heads",
                "kept_start", "loss_curve", "z"} <= set(m)
        assert m["class"] == report["true_class"] and len(m["loss_curve"]) == 3
        assert len(m["z"]) == 128 and -1 <= m["ssim"] <= 1
    assert report["methods"]["ylg"]["heads"] == [0, 1, 2, 3]
    assert Image.open(out / "reconstruction_ylg.png").size == (32, 32)
    assert "PSNR" in result.output and "ylg" in result.output


def test_invert_an_image_file_of_another_size_and_colour(ylg_checkpoint, tmp_path):
    p = tmp_path / "digit.png"
    a = np.zeros((50, 50, 3), np.uint8)
    a[10:40, 20:30] = 255
    Image.fromarray(a).save(p)
    result = run("invert", "--checkpoint", ylg_checkpoint, "--image", p, "--class", "search",
                 "--method", "ylg", *BUDGET, "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "inversion.json").read_text())
    assert not report["class_given"] and report["true_class"] is None
    assert any("resized" in n for n in report["notes"])
    assert any("converted to grey" in n for n in report["notes"])
    assert "note: the image is colour" in result.output  # said, on stderr
    assert list(report["methods"]) == ["ylg"]


def test_bad_checkpoint_and_bad_image_exit_2_with_one_line(ylg_checkpoint, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    line = _one_error_line(run("invert", "--checkpoint", bad, "--test-index", 0, *BUDGET,
                               "-o", tmp_path / "o"))
    assert "cannot read checkpoint" in line
    img = tmp_path / "bad.png"
    img.write_text("not an image")
    line = _one_error_line(run("invert", "--checkpoint", ylg_checkpoint, "--image", img, *BUDGET,
                               "-o", tmp_path / "o"))
    assert "cannot read image" in line
    line = _one_error_line(run("invert", "--checkpoint", ylg_checkpoint, "--test-index", 297,
                               *BUDGET, "-o", tmp_path / "o"))
    assert "0..296" in line
    assert not (tmp_path / "o").exists()


def test_invert_needs_exactly_one_target(ylg_checkpoint, tmp_path):
    result = run("invert", "--checkpoint", ylg_checkpoint, *BUDGET, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "give one of --image, --test-index and --sample" in \
        result.output


def test_a_model_without_attention_refuses_ylg_and_skips_it_in_all(plain_checkpoint, tmp_path):
    line = _one_error_line(run("invert", "--checkpoint", plain_checkpoint, "--test-index", 0,
                               "--method", "ylg", *BUDGET, "-o", tmp_path / "o"))
    assert "no attention layer" in line
    result = run("invert", "--checkpoint", plain_checkpoint, "--test-index", 0, *BUDGET,
                 "-o", tmp_path / "all")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "all" / "inversion.json").read_text())
    assert list(report["methods"]) == ["pixel", "discriminator"]
    assert any("ylg method is skipped" in n for n in report["notes"])
    assert any("D0 is D up to the 16x16 grid" in n for n in report["notes"])
    line = _one_error_line(run("attention-map", "--checkpoint", plain_checkpoint, "--sample", 1,
                               "--query", "3,3", "-o", tmp_path / "a.png"))
    assert "generator has no attention layer" in line


def test_attention_map_of_a_real_digit_and_of_a_sample(ylg_checkpoint, tmp_path):
    result = run("attention-map", "--checkpoint", ylg_checkpoint, "--test-index", 2, "--query",
                 "12,20", *BUDGET, "-o", tmp_path / "real.png")
    assert result.exit_code == 0, result.output
    assert "inversion PSNR" in result.output
    wide = Image.open(tmp_path / "real.png").size
    result = run("attention-map", "--checkpoint", ylg_checkpoint, "--sample", 3, "--class", 5,
                 "--query", "12,20", "--head", 0, "-o", tmp_path / "one.svg")
    assert result.exit_code == 0, result.output
    assert "class 5" in result.output
    assert (tmp_path / "one.svg").read_text().startswith("<?xml")
    assert wide[0] > 4 * wide[1]  # 2 + 8 panels on a row


@pytest.mark.parametrize("args,message", [
    (["--query", "32,0"], "outside the model's 32x32 image"),
    (["--query", "3,x"], "must read ROW,COL"),
    (["--query", "3,3", "--head", "8"], "heads must be indices in 0..7"),
    (["--query", "3,3", "--class", "12"], "class 12 is outside 0..9"),
    (["--query", "3,3", "--class", "sevn"], "'sevn' is not a class index 0..9 or one of zero,"),
])
def test_attention_map_bad_input_exits_2(ylg_checkpoint, tmp_path, args, message):
    result = run("attention-map", "--checkpoint", ylg_checkpoint, "--sample", 0, *args,
                 "-o", tmp_path / "a.png")
    assert result.exit_code == 2 and message in result.output, result.output


def test_attention_map_refuses_an_unknown_figure_format_before_inverting(ylg_checkpoint, tmp_path):
    line = _one_error_line(run("attention-map", "--checkpoint", ylg_checkpoint, "--test-index", 0,
                               "--query", "3,3", "-o", tmp_path / "a.jpg"))
    assert "must end in one of .png, .svg, .pdf" in line


def test_invert_and_attention_map_take_a_class_by_name(ylg_checkpoint, tmp_path):
    result = run("invert", "--checkpoint", ylg_checkpoint, "--sample", 3, "--class", "five",
                 "--method", "pixel", *BUDGET, "-o", tmp_path / "inv")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "inv" / "inversion.json").read_text())["true_class"] == 5
    result = run("attention-map", "--checkpoint", ylg_checkpoint, "--sample", 3, "--class",
                 "five", "--query", "12,20", "--head", 0, "-o", tmp_path / "a.png")
    assert result.exit_code == 0 and "class 5" in result.output, result.output


def test_invert_a_generated_sample_scores_the_recovered_latent(ylg_checkpoint, tmp_path):
    out = tmp_path / "self"
    result = run("invert", "--checkpoint", ylg_checkpoint, "--sample", 3, "--class", 5,
                 "--method", "pixel", "--noise", "0.2", *BUDGET, "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "inversion.json").read_text())
    assert report["target"] == "sample (seed 3)" and report["true_class"] == 5
    assert len(report["true_z"]) == 128 and report["settings"]["noise"] == 0.2
    m = report["methods"]["pixel"]
    assert m["latent_distance"] > 0 and -1 <= m["latent_cosine"] <= 1
    assert "z distance" in result.output
    both = run("invert", "--checkpoint", ylg_checkpoint, "--sample", 3, "--test-index", 0,
               *BUDGET, "-o", out)
    assert both.exit_code == 2 and "give one of --image, --test-index and --sample" in both.output
    line = _one_error_line(run("invert", "--checkpoint", ylg_checkpoint, "--sample", 3, "--noise",
                               "-1", *BUDGET, "-o", out))
    assert line == "Error: --noise must be a non-negative number, got -1.0"


@pytest.fixture(scope="module")
def colour_checkpoint(tmp_path_factory):
    """A dense-attention model trained one step on a colour .npz: data without a test split."""
    out = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(0)
    np.savez(out / "own.npz", images=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(8) % 2)
    result = run("train", "--data", out / "own.npz", "--attention", "dense", "--width", 8,
                 "--out", out / "run", *TINY)
    assert result.exit_code == 0, result.output
    return out / "run" / "checkpoint.pt"


@pytest.mark.parametrize("command", [["invert"], ["attention-map", "--query", "8,8"]])
def test_a_test_index_is_refused_for_a_model_of_other_data(colour_checkpoint, tmp_path,
                                                            command):
    out = tmp_path / ("inv" if command == ["invert"] else "a.png")
    line = _one_error_line(run(*command, "--checkpoint", colour_checkpoint, "--test-index", 0,
                               *BUDGET, "-o", out))
    assert line.startswith("Error: --test-index indexes the held-out images of the model's own "
                           "data")
    assert "own.npz" in line and "--image FILE" in line
    assert not out.exists()  # refused before anything is written


def test_a_test_index_indexes_the_photos_held_out_crops():
    import torch

    from ylg.invert.targets import target_image
    from ylg.models import Generator
    from ylg.data import photos

    G = Generator(resolution=32, width=4, channels=3, num_classes=1, attention="none")
    x, label, source, notes = target_image(G, test_index=3, data="photos")
    assert source == "photos:test[3]" and label == 0 and notes == []
    assert x.shape == (1, 3, 32, 32)
    crop = photos(resolution=32, split="test", channels=3).images[3:4]
    assert torch.equal(x, crop.float() / 127.5 - 1)
    _, _, digit, _ = target_image(G, test_index=3)  # the default data: the digits
    assert digit == "digits:test[3]"
