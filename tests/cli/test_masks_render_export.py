"""ylg-masks render / export / check --masks: files written, exit codes, one-line errors."""

import json
import os

import pytest

from ylg_cli.masks import main
from ifg.io import load
from ifg.maskset import YLG_HEADS, preset
from ifg.render import MAX_GRAPH_N
from .clirun import runner

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data")


run = runner(main)


def one_line_error(out, *fragments):
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), out.output
    for fragment in fragments:
        assert fragment in lines[0]


# ---------------------------------------------------------------------------------- render

@pytest.mark.parametrize("args", [
    ("--pattern", "fixed", "--n", "9"),
    ("--pattern", "ltr", "--n", "64", "--esa", "--what", "masks,field", "--query", "2,3"),
    ("--pattern", "rtl", "--n", "36", "--enumeration", "snake", "--what", "enumeration,graph",
     "--order", "enumeration"),
    ("--what", "enumeration", "--n", "64", "--enumeration", "hilbert"),
], ids=["pattern", "field", "snake", "enumeration"])
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                           (".pdf", b"%PDF")])
def test_render_writes_each_format(tmp_path, args, suffix, magic):
    path = tmp_path / f"figure{suffix}"
    out = run("render", *args, "-o", path)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == f"wrote {path}"
    assert path.read_bytes()[:len(magic)] == magic


def test_render_with_only_esa_draws_the_paper_figures(tmp_path):
    path = tmp_path / "paper.png"
    assert run("render", "--esa", "-o", path).exit_code == 0
    assert path.stat().st_size > 50_000  # three masks, three graphs, two enumerations


def test_render_defaults_to_masks_alone_above_the_graph_limit(tmp_path):
    assert run("render", "--pattern", "ltr", "--n", "1024", "--esa", "-o",
               tmp_path / "big.png").exit_code == 0


def test_render_help_names_the_graph_limit():
    assert f"limit of N, {MAX_GRAPH_N}" in " ".join(run("render", "--help").output.split())


@pytest.mark.parametrize("args, fragments", [
    (("--pattern", "ltr", "--n", "100", "--what", "graph"), ("limit 81 positions",)),
    (("--pattern", "ltr", "--n", "9"), ("'.gif'", ".png, .svg, .pdf")),
    (("--pattern", "ltr", "--n", "9", "--what", "masks,heat"), ("unknown figure panel",)),
    (("--pattern", "ltr", "--n", "64", "--what", "field", "--query", "9,9"),
     ("(9, 9) is outside the 8x8 grid",)),
    (("--pattern", "ltx", "--n", "9"), ("did you mean ltr",)),
    (("--pattern", "ltr", "--n", "10", "--what", "field"), ("needs a 2-D grid",)),
])
def test_render_bad_input_is_one_line_and_exit_2(tmp_path, args, fragments):
    suffix = ".gif" if "'.gif'" in fragments else ".png"
    one_line_error(run("render", *args, "-o", tmp_path / f"x{suffix}"), *fragments)


@pytest.mark.parametrize("args", [
    ("--what", "masks"),
    ("--pattern", "ltr", "--esa", "--enumeration", "snake"),
    ("--pattern", "ltr", "--query", "a,b", "--what", "field"),
])
def test_render_usage_errors_exit_2(tmp_path, args):
    out = run("render", *args, "-o", tmp_path / "x.png")
    assert out.exit_code == 2 and "Traceback" not in out.output


# ---------------------------------------------------------------------------------- export

def test_export_ylg_writes_the_published_layer(tmp_path):
    path = tmp_path / "masks.npz"
    out = run("export", "--preset", "ylg", "--query-grid", "32x32", "--key-grid", "16x16",
              "-o", path)
    assert out.exit_code == 0, out.output
    assert "8 heads (rtl:1,rtl:2,rtl:1,rtl:2,ltr:1,ltr:2,ltr:1,ltr:2)" in out.output
    ms = load(path)
    assert [(h.pattern, h.step) for h in ms.heads] == list(YLG_HEADS)
    assert ms.query_grid == (32, 32) and ms.key_grid == (16, 16)
    assert ms.enumeration == "manhattan" and ms.tiling == "official"
    assert ms.groups == ((0, 1), (2, 3), (4, 5), (6, 7))
    expected = preset("ylg", key_grid=(16, 16), query_grid=(32, 32))
    assert all((a != b).nnz == 0 for a, b in zip(ms.masks, expected.masks))


@pytest.mark.parametrize("args, enumeration, tiling", [
    (("--preset", "ylg-no-esa"), "rowmajor", "official"),
    (("--preset", "ylg", "--tiling", "aligned"), "manhattan", "aligned"),
    (("--heads", "ltr:1,ltr:2,strided:1", "--enumeration", "snake"), "snake", "official"),
    (("--heads", "rtl:1,rtl:2"), "manhattan", "official"),
])
def test_export_presets_and_custom_heads(tmp_path, args, enumeration, tiling):
    path = tmp_path / "m.npz"
    out = run("export", *args, "--query-grid", "16x16", "--key-grid", "8x8", "-o", path)
    assert out.exit_code == 0, out.output
    ms = load(path)
    assert (ms.enumeration, ms.tiling) == (enumeration, tiling)


@pytest.mark.parametrize("args, fragments", [
    (("--preset", "ylg-bogus"), ("unknown preset 'ylg-bogus'",)),
    (("--heads", "ltr"), ("must read PATTERN:STEP",)),
    (("--heads", "ltr:3"), ("has 2 step(s)",)),
    (("--heads", "fixed:1,fixed:2"), ("query row 0 allows no key",)),
    (("--preset", "ylg", "--query-grid", "24x24", "--key-grid", "16x16"),
     ("scaled by one integer factor",)),
    (("--preset", "ylg", "--query-grid", "16x16", "--key-grid", "7x7"),
     ("no attention layer takes query grid 16x16 with key grid 7x7", "key grid 8x8",
      "query grid 14x14")),
    (("--preset", "ylg", "--resolution", "64", "--key-grid", "8x8"),
     ("--resolution derives both grids",)),
    (("--preset", "ylg", "--query-grid", "9x9"), ("--query-grid 9x9 cannot be pooled by 2",)),
])
def test_export_bad_input_is_one_line_and_exit_2(tmp_path, args, fragments):
    one_line_error(run("export", *args, "-o", tmp_path / "m.npz"), *fragments)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("args", [(), ("--preset", "ylg", "--heads", "ltr:1"),
                                  ("--preset", "ylg", "--esa"), ("--preset", "ylg",
                                                                 "--key-grid", "16")])
def test_export_usage_errors_exit_2(tmp_path, args):
    out = run("export", *args, "-o", tmp_path / "m.npz")
    assert out.exit_code == 2 and "Traceback" not in out.output


def test_ylg_strided_preset_exports_full_information_heads(tmp_path):
    pytest.importorskip("ifg.extend")
    path = tmp_path / "s.npz"
    assert run("export", "--preset", "ylg-strided", "--key-grid", "8x8", "--query-grid", "16x16",
               "-o", path).exit_code == 0
    assert run("check", "--masks", path).exit_code == 0


@pytest.mark.parametrize("args, query, key", [
    ((), (16, 16), (8, 8)),  # ylg train's default model: 32x32 images
    (("--resolution", "64"), (32, 32), (16, 16)),
    (("--resolution", "128"), (32, 32), (16, 16)),
    (("--key-grid", "16x16"), (32, 32), (16, 16)),
    (("--query-grid", "32x32"), (32, 32), (16, 16)),
    (("--query-grid", "8x8", "--key-grid", "8x8"), (8, 8), (8, 8)),
])
def test_export_derives_the_grids_and_says_which_models_take_them(tmp_path, args, query, key):
    path = tmp_path / "m.npz"
    out = run("export", "--preset", "ylg", *args, "-o", path)
    assert out.exit_code == 0, out.output
    ms = load(path)
    assert (ms.query_grid, ms.key_grid) == (query, key)
    fit = out.output.strip().splitlines()[-1]
    if query == (16, 16):
        assert fit.startswith("fits ylg train --resolution 32 (the default)")
    elif query == (32, 32):
        assert fit == "fits ylg train --resolution 64 or 128"
    else:
        assert fit.startswith("fits a layer that pools keys by 1") and "not ylg train" in fit


def test_the_default_export_fits_the_default_training_model(tmp_path):
    pytest.importorskip("torch")
    from ylg.config import TrainConfig
    from ylg.models import resolve_masks

    path = tmp_path / "m.npz"
    assert run("export", "--preset", "ylg", "-o", path).exit_code == 0
    assert resolve_masks(load(path), resolution=TrainConfig().resolution)[0] == 8


# ---------------------------------------------------------------------------- check --masks

def test_check_masks_reports_every_group_and_exits_0(tmp_path):
    path = tmp_path / "m.npz"
    run("export", "--preset", "ylg", "--key-grid", "8x8", "--query-grid", "16x16", "-o", path)
    out = run("check", "--masks", path)
    assert out.exit_code == 0, out.output
    for g, heads in enumerate(("0, 1", "2, 3", "4, 5", "6, 7")):
        assert f"== group {g}: heads {heads}" in out.output
    assert "4 of 4 group(s) have Full Information" in out.output


def test_check_masks_exits_1_when_a_group_lacks_full_information(tmp_path):
    path = tmp_path / "m.npz"
    run("export", "--heads", "ltr:1,ltr:2,strided:1,strided:2", "--key-grid", "9x9",
        "--query-grid", "9x9", "-o", path)
    out = run("check", "--masks", path)
    assert out.exit_code == 1
    assert "1 of 2 group(s) have Full Information" in out.output
    assert "NO: 3,240 of 6,561 pairs have no path" in out.output  # strided at N = 81 (SPEC 3)
    # causally, strided holds, with ESA too: the causal order is the enumeration's
    assert run("check", "--masks", path, "--causal").exit_code == 0


def test_check_masks_json_has_one_report_per_group(tmp_path):
    path = tmp_path / "m.npz"
    run("export", "--heads", "ltr:1,ltr:2,strided:1,strided:2", "--key-grid", "9x9",
        "--query-grid", "9x9", "-o", path)
    out = run("check", "--masks", path, "--json")
    data = json.loads(out.output)
    assert out.exit_code == 1 and data["holds"] is False
    assert [g["heads"] for g in data["groups"]] == [[0, 1], [2, 3]]
    assert [g["report"]["full_information"] for g in data["groups"]] == [True, False]
    assert data["groups"][1]["report"]["pattern"] == "strided:1+strided:2"


def test_check_masks_with_no_groups_has_nothing_to_check(tmp_path):
    path = tmp_path / "m.npz"
    run("export", "--heads", "ltr:1,rtl:2", "--key-grid", "4x4", "-o", path)
    out = run("check", "--masks", path)
    assert out.exit_code == 0 and "nothing to check" in out.output


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(DATA)
                                        if f.endswith(".npz") and f != "masks_good.npz"))
def test_check_masks_on_each_broken_file_is_one_line_and_exit_2(name):
    path = os.path.join(DATA, name)
    one_line_error(run("check", "--masks", path), path)


def test_check_masks_on_the_good_file_exits_0():
    assert run("check", "--masks", os.path.join(DATA, "masks_good.npz")).exit_code == 0


@pytest.mark.parametrize("args", [(), ("--masks", "m.npz", "--pattern", "ltr"),
                                  ("--pattern", "ltr")])
def test_check_needs_a_pattern_or_a_file(args):
    out = run("check", *args)
    assert out.exit_code == 2 and "Traceback" not in out.output


def test_render_makes_a_missing_output_folder(tmp_path):
    out = run("render", "--pattern", "fixed", "--n", "9", "-o", tmp_path / "new" / "deep" / "f.png")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "new" / "deep" / "f.png").stat().st_size > 0
