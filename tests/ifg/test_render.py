"""Mask figures: the colour codes and receptive fields are right, figures render headless."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv, to_rgb

from ifg.check import check
from ifg.errors import InvalidArgument
from ifg.spec import pattern
from ifg.render import (COLOURS, MAX_GRAPH_N, enumeration_figure, figure, graph_figure,
                        mask_codes, masks_figure, paper_figure, receptive_field,
                        receptive_field_figure, save_figure)
from .spec_facts import ESA_8X8


@pytest.mark.parametrize("name", ["ltr", "rtl", "fixed", "strided"])
@pytest.mark.parametrize("enumeration", ["rowmajor", "manhattan"])
def test_mask_codes_are_step1_plus_twice_step2(name, enumeration):
    p = pattern(name, 36, enumeration=enumeration)
    codes, block = mask_codes(p)
    dense = p.to_dense().astype(np.uint8)
    assert block == 1
    np.testing.assert_array_equal(codes, dense[0] + 2 * dense[1])


def test_paper_colours_dark_blue_both_light_blue_first_green_second_yellow_neither():
    hsv = rgb_to_hsv(np.array([to_rgb(c) for c in COLOURS]))  # codes 0, 1, 2, 3
    hue, value = hsv[:, 0] * 360, hsv[:, 2]
    assert 40 <= hue[0] <= 65  # yellow: neither step
    assert 190 <= hue[1] <= 250 and 190 <= hue[3] <= 250  # blue: step 1 only, both
    assert value[3] < 0.6 < value[1]  # both steps dark, step 1 only light
    assert 90 <= hue[2] <= 160  # green: step 2 only
    # ltr at N = 4: query 0 attends key 0 in both steps, key 1 only in step 2
    codes, _ = mask_codes(pattern("ltr", 4))
    assert codes[0, 0] == 3 and codes[0, 1] == 2 and codes[1, 0] == 1 and codes[0, 2] == 0


def test_in_enumeration_order_esa_shows_the_same_design_as_row_major():
    # ESA renumbers pixels: in the pattern's own 1-D order the masks are unchanged
    plain, _ = mask_codes(pattern("ltr", 64))
    esa, _ = mask_codes(pattern("ltr", 64, enumeration="manhattan"), order="enumeration")
    pixel, _ = mask_codes(pattern("ltr", 64, enumeration="manhattan"))
    np.testing.assert_array_equal(plain, esa)
    assert (plain != pixel).any()


def test_large_masks_are_pooled_so_that_any_allowed_cell_stays_visible():
    p = pattern("ltr", 64, enumeration="manhattan")
    codes, block = mask_codes(p, max_side=16)
    assert block == 4 and codes.shape == (16, 16)
    dense = p.to_dense()
    for t, bit in ((0, 1), (1, 2)):
        pooled = dense[t].reshape(16, 4, 16, 4).any(axis=(1, 3))
        np.testing.assert_array_equal((codes & bit) > 0, pooled)


def test_the_paper_layer_grid_masks_stay_one_image_of_bounded_size():
    codes, block = mask_codes(pattern("ltr", 128 * 128, enumeration="manhattan"))
    assert codes.shape == (1024, 1024) and block == 16


def test_one_step_patterns_use_dark_blue_for_allowed():
    codes, _ = mask_codes(pattern("local", 16))
    assert set(np.unique(codes)) == {0, 3}


def test_more_than_two_steps_are_drawn_one_step_at_a_time():
    p = pattern("ltr", 9)
    three = p.with_steps(p.steps + (p.steps[0],), name="ltr3")
    with pytest.raises(InvalidArgument, match="one or two steps"):
        mask_codes(three)
    assert len(masks_figure(three).axes) == 3


@pytest.mark.parametrize("name", ["ltr", "fixed", "strided"])
@pytest.mark.parametrize("enumeration", ["rowmajor", "manhattan"])
def test_receptive_field_is_the_row_of_the_boolean_product(name, enumeration):
    p = pattern(name, 36, enumeration=enumeration)
    m1, m2 = p.to_dense().astype(int)
    q = 14  # pixel (2, 2)
    field = receptive_field(p, (2, 2))
    assert field.shape == (2, 6, 6)
    np.testing.assert_array_equal(field[0].ravel(), m1[q] > 0)
    np.testing.assert_array_equal(field[1].ravel(), (m2 @ m1)[q] > 0)


def test_every_query_sees_every_input_after_the_last_step_iff_full_information():
    for name in ("ltr", "strided"):
        p = pattern(name, 25, enumeration="manhattan")
        everything = all(receptive_field(p, q)[-1].all() for q in range(25))
        assert everything == check(p).full_information


def test_row_major_ltr_step_1_sees_its_own_row_up_to_the_query():
    field = receptive_field(pattern("ltr", 64), (3, 5))[0]
    expected = np.zeros((8, 8), dtype=bool)
    expected[3, :6] = True
    np.testing.assert_array_equal(field, expected)


def test_query_outside_the_grid_and_grid_less_patterns_are_refused():
    with pytest.raises(InvalidArgument, match=r"\(8, 0\) is outside the 8x8 grid"):
        receptive_field(pattern("ltr", 64), (8, 0))
    with pytest.raises(InvalidArgument, match="no 2-D grid"):
        receptive_field(pattern("ltr", 10), 0)
    with pytest.raises(InvalidArgument, match="needs a 2-D grid"):
        figure(pattern("ltr", 10), what=("enumeration",))


def test_a_graph_above_the_limit_is_refused_naming_the_limit():
    assert MAX_GRAPH_N == 81
    graph_figure(pattern("ltr", 81))
    with pytest.raises(InvalidArgument, match=f"limit {MAX_GRAPH_N} positions"):
        graph_figure(pattern("ltr", 100))


def test_graph_titles_the_verdict_and_names_the_missing_path():
    ok = graph_figure(pattern("ltr", 9)).axes[0]
    assert ok.get_title().endswith("(Full Information)")
    bad = graph_figure(pattern("strided", 9)).axes[0]
    report = check(pattern("strided", 9))
    assert bad.get_title().endswith("(lacks Full Information)")
    notes = [t.get_text() for t in bad.texts]
    src, tgt = report.witness
    assert any(f"no path from input {src} (red) to output {tgt} (purple)" in t for t in notes)


def test_enumeration_figure_labels_each_cell_with_its_esa_index():
    ax = enumeration_figure(("rowmajor", "manhattan"), grid=(8, 8)).axes[1]
    labels = np.full((8, 8), -1)
    for text in ax.texts:
        c, r = text.get_position()
        labels[int(r), int(c)] = int(text.get_text())
    np.testing.assert_array_equal(labels, ESA_8X8)


def test_paper_figure_has_three_patterns_with_graphs_and_two_enumerations():
    titles = [ax.get_title() for ax in paper_figure().axes]
    for name in ("fixed", "ltr", "rtl"):
        assert f"{name}: masks, N = 9, rowmajor" in titles
        assert any(t.startswith(f"{name}: information-flow graph") for t in titles)
    assert "rowmajor, 8x8" in titles and "ESA (manhattan), 8x8" in titles


def test_receptive_field_figure_compares_row_major_with_esa():
    fig = receptive_field_figure(pattern("ltr", 64), query=(4, 4))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["rowmajor, after step 1: 5/64", "rowmajor, after step 2: 64/64",
                      "ESA, after step 1: 8/64", "ESA, after step 2: 64/64"]


def test_unknown_panel_and_order_are_refused():
    with pytest.raises(InvalidArgument, match="unknown figure panel"):
        figure(pattern("ltr", 9), what=("heatmap",))
    with pytest.raises(InvalidArgument, match="order"):
        figure(pattern("ltr", 9), what=("masks",), order="random")


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                           (".pdf", b"%PDF")])
def test_figures_save_in_each_format(tmp_path, suffix, magic):
    path = tmp_path / f"fig{suffix}"
    save_figure(figure(pattern("fixed", 9, enumeration="manhattan"),
                       what=("masks", "graph", "enumeration", "field")), path)
    assert path.read_bytes()[:len(magic)] == magic


def test_unknown_figure_format_is_refused(tmp_path):
    with pytest.raises(InvalidArgument, match=r"must end in one of \.png, \.svg, \.pdf"):
        save_figure(enumeration_figure(), tmp_path / "fig.gif")


def test_rendering_needs_no_display_and_never_touches_pyplot(tmp_path):
    code = ("import sys; from ifg import render; from ifg.spec import pattern; "
            f"render.save_figure(render.paper_figure(), {str(tmp_path / 'p.png')!r}); "
            "print('matplotlib.pyplot' in sys.modules)")
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": ""}  # no DISPLAY, no backend chosen
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "p.png").stat().st_size > 10_000
