"""Figures: where a query looks, panel counts and scales, sample grids, training curves."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ifg.errors import InvalidArgument
from ifg.maskset import preset
from ifg.render import save_figure
from ylg.attention import Attention2d
from ylg.viz import (attention_figure, inversion_figure, loss_curves_figure, query_attention,
                     read_log, save_image, save_image_grid, training_curves_figure)


def test_query_attention_reads_the_querys_row_on_the_key_grid():
    # 8x8 queries, 4x4 keys, image 32x32: pixel (r, c) is query cell (r // 4, c // 4)
    ms = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    with torch.no_grad():
        _, attn = Attention2d(64, ms)(torch.randn(1, 64, 8, 8), return_attention=True)
    m = query_attention(attn, query=(13, 30), image_size=32, query_grid=(8, 8), key_grid=(4, 4))
    assert m.shape == (1, 8, 32, 32)
    q = 3 * 8 + 7
    for h in range(8):
        # each key covers an 8x8 block of the image and carries that key's weight
        assert torch.equal(m[0, h, ::8, ::8].flatten(), attn[0, h, q])
        assert m[0, h].sum().item() == pytest.approx(64.0, rel=1e-5)  # a row sums to 1
        # a key the mask forbids gets no heat
        allowed = torch.from_numpy(ms.masks[h][q].toarray()[0])
        assert (m[0, h, ::8, ::8].flatten()[~allowed] == 0).all()


def test_query_attention_refuses_a_pixel_outside_the_image():
    with pytest.raises(InvalidArgument, match="outside the 8x8 image"):
        query_attention(torch.zeros(1, 1, 16, 4), query=(8, 0), image_size=8, query_grid=(4, 4),
                        key_grid=(2, 2))


def test_attention_figure_has_a_panel_per_head_and_a_saliency_row(tmp_path):
    fig = attention_figure(torch.zeros(1, 16, 16), torch.rand(8, 16, 16), query=(3, 4),
                           reconstruction=torch.zeros(1, 16, 16), saliency=torch.rand(8, 16, 16))
    visible = [ax for ax in fig.axes if ax.axison and ax.get_label() != "<colorbar>"]
    assert len(visible) == 2 + 8 + 8
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]  # the heat maps' scale
    assert bar.get_ylim() == (0.0, 1.0) and "maximum" in bar.get_ylabel()
    save_figure(fig, tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").size[0] > Image.open(tmp_path / "a.png").size[1]


def test_inversion_figure_rows_are_methods_and_columns_images():
    fig = inversion_figure(torch.zeros(4, 3, 8, 8), {"pixel": torch.zeros(4, 3, 8, 8),
                                                     "ylg": torch.zeros(4, 3, 8, 8)})
    assert len(fig.axes) == 3 * 4
    one = inversion_figure(torch.zeros(1, 8, 8), {"ylg": torch.zeros(1, 8, 8)},
                           {"ylg": {"psnr": 21.5, "ssim": 0.75}})
    assert "PSNR 21.5, SSIM 0.75" in one.axes[1].get_title()


def test_loss_curves_figure_draws_every_start_and_marks_the_kept_one():
    fig = loss_curves_figure({"pixel": torch.rand(3, 5) + 1}, kept={"pixel": 2})
    (ax,) = fig.axes
    assert len(ax.lines) == 3 + 1
    assert ax.get_yscale() == "log"


def test_save_image_keeps_the_models_size_and_range(tmp_path):
    x = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    a = Image.open(save_image(x, tmp_path / "x.png"))
    assert a.size == (4, 4) and a.getextrema() == (0, 255)


def test_training_curves_draw_the_losses_and_each_metric_with_its_spread(tmp_path):
    log = tmp_path / "log.jsonl"
    lines = []
    for step in (10, 20, 30):
        lines.append({"step": step, "loss_d": 2.0 - step / 100, "loss_g": step / 100,
                      "d_real": 0.5, "d_fake": -0.5, "seconds": step, "steps_per_s": 1.0})
        lines.append({"step": step, "eval": {"domain-fid": 90.0 - step, "domain-kid": 0.1,
                                             "domain-kid_std": 0.01, "accuracy": step / 40,
                                             "samples": 100, "real": 1500,
                                             "domain_features": "digits-cnn-v2-x"}})
    log.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"step": 40, "loss')
    records = read_log(log)
    assert len(records) == 6  # the torn last line is skipped
    fig = training_curves_figure(records)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["losses", "domain-fid", "domain-kid", "accuracy"]
    losses = titled[0]
    assert [t.get_text() for t in losses.get_legend().get_texts()] == \
        ["loss_d", "loss_g", "d_real", "d_fake"]  # every line named; no timing lines
    assert list(titled[1].lines[0].get_xdata()) == [10, 20, 30]
    assert titled[2].containers  # KID drawn with its spread as error bars
    with pytest.raises(InvalidArgument, match="no losses and no evaluations"):
        training_curves_figure([{"step": 1, "seconds": 3.0}])


def test_the_sample_grid_names_its_columns(tmp_path):
    plain = save_image_grid(torch.full((4, 1, 8, 8), -1.0), tmp_path / "a.png", nrow=2, scale=2)
    named = save_image_grid(torch.full((4, 1, 8, 8), -1.0), tmp_path / "b.png", nrow=2, scale=2,
                            labels=["zero", "one"])
    a, b = np.asarray(Image.open(plain)), np.asarray(Image.open(named))
    assert b.shape[0] == a.shape[0] + 12 and b.shape[1] == a.shape[1]
    assert b[:12].max() > 200 and a.max() == 0  # the labels are written above black images
    assert np.array_equal(b[12:], a)
    half = b.shape[1] // 2
    assert b[:12, :half].max() > 200 and b[:12, half:].max() > 200  # one label per column


def test_the_inversion_loss_plot_names_both_kinds_of_line():
    fig = loss_curves_figure({"pixel": torch.rand(3, 5) + 1}, kept={"pixel": 1})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["every start", "kept start"]
