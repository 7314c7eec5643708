"""ylg-masks with the 2-D families: list, check --block, depth, order, render, export and
--mask-mod; every bad input one line and exit 2."""

import json

import pytest

from ylg_cli.masks import main
from .clirun import runner

run = runner(main)

MOD = """
def natten_3x3(b, h, q_idx, kv_idx):
    qr, qc, kr, kc = q_idx // 8, q_idx % 8, kv_idx // 8, kv_idx % 8
    rows, cols = (qr - 1).clamp(0, 5), (qc - 1).clamp(0, 5)
    return (kr >= rows) & (kr < rows + 3) & (kc >= cols) & (kc < cols + 3)

def broken(b, h, q_idx, kv_idx):
    return q_idx + kv_idx
"""


@pytest.fixture
def mod(tmp_path):
    path = tmp_path / "my_masks.py"
    path.write_text(MOD)
    return path


def test_list_shows_the_families_their_parameters_and_the_syntax():
    out = run("list").output
    for text in ("neighborhood", "kernel=7", "dilation=1", "swin", "shift=derived", "axial",
                 "criss-cross", "sliding-tile", "global", "random-keys", "A+B", "A/B",
                 "layers=L", "tiled"):
        assert text in out


def test_check_a_family_with_blocks():
    out = run("check", "--pattern", "neighborhood:kernel=3", "--grid", "16x16", "--block", "16")
    assert out.exit_code == 1
    assert "step 1 computes 48 of 256" in out.output
    data = json.loads(run("check", "--pattern", "neighborhood:kernel=3", "--grid", "16x16",
                          "--block", "16", "--json").output)
    assert data["blocks"] == [{"computed": 48, "full": 0, "total": 256}]


def test_check_swin_pair_with_full_information_on_one_window():
    assert run("check", "--pattern", "swin:window=4", "--grid", "4x4").exit_code == 0


def test_depth_text_and_json():
    out = run("depth", "--pattern", "neighborhood:kernel=3", "--grid", "8x8")
    assert out.exit_code == 0 and "6 layer(s)" in out.output and "witness" in out.output
    data = json.loads(run("depth", "--pattern", "neighborhood:kernel=3", "--grid", "8x8",
                          "--json").output)
    assert data["layers"] == 6 and data["coverage"][0] == 0.140625 and len(data["coverage"]) == 6
    assert set(data["witness"]) == {"key", "query"}


def test_depth_that_never_comes_exits_1_with_null():
    out = run("depth", "--pattern", "neighborhood:kernel=3,dilation=2", "--grid", "8x8", "--json")
    assert out.exit_code == 1
    data = json.loads(out.output)
    assert data["layers"] is None and data["never"] and "any depth" in data["witness_reason"]


def test_depth_max_layers_and_causal():
    out = run("depth", "--pattern", "neighborhood:kernel=3", "--grid", "16x16", "--max-layers",
              "2", "--json")
    assert out.exit_code == 1 and len(json.loads(out.output)["coverage"]) == 2
    assert run("depth", "--pattern", "axial", "--grid", "4x4", "--causal").exit_code == 0


def test_order_ranks_and_says_the_saving():
    out = run("order", "--pattern", "swin:window=8", "--grid", "64x64", "--block", "64")
    assert out.exit_code == 0 and "44.8% fewer" in out.output
    data = json.loads(run("order", "--pattern", "swin:window=8", "--grid", "64x64", "--block",
                          "64", "--json").output)
    assert data["orders"][0]["computed"] == 548 and data["best"] == data["orders"][0]["enumeration"]


def test_mask_mod_in_check_depth_order_render_export(mod, tmp_path):
    ref = f"{mod}:natten_3x3"
    out = run("check", "--mask-mod", ref, "--grid", "8x8", "--block", "8", "--json")
    assert json.loads(out.output)["edges"] == [576]
    data = json.loads(run("depth", "--mask-mod", ref, "--grid", "8x8", "--json").output)
    assert data["layers"] == 6 and data["method"] == "kronecker"
    assert run("depth", "--mask-mod", ref, "--mask-mod", ref, "--grid", "8x8").exit_code == 0
    assert run("order", "--mask-mod", ref, "--grid", "8x8", "--block", "8").exit_code == 0
    png = tmp_path / "field.png"
    assert run("render", "--mask-mod", ref, "--grid", "8x8", "--layers", "3", "-o",
               png).exit_code == 0 and png.stat().st_size > 0
    npz = tmp_path / "mod.npz"
    assert run("export", "--mask-mod", ref, "--key-grid", "8x8", "--query-grid", "16x16",
               "-o", npz).exit_code == 0


def test_render_and_export_a_family(tmp_path):
    png = tmp_path / "swin.png"
    out = run("render", "--pattern", "swin:window=4", "--grid", "8x8", "--what", "masks,field",
              "-o", png)
    assert out.exit_code == 0, out.output
    npz = tmp_path / "swin.npz"
    assert run("export", "--pattern", "swin:window=4", "--key-grid", "8x8", "-o",
               npz).exit_code == 0
    checked = run("check", "--masks", npz)
    assert checked.exit_code == 1 and "1 group(s)" in checked.output


@pytest.mark.parametrize("args,message", [
    (["check", "--pattern", "neighborhood:kernal=3", "--grid", "8x8"], "did you mean kernel"),
    (["depth", "--pattern", "neighborhood:kernel=9", "--grid", "8x8"], "needs 9 positions"),
    (["order", "--pattern", "swin:window=3", "--grid", "8x8"], "does not divide"),
    (["check", "--mask-mod", "{mod}:broken", "--grid", "8x8"], "boolean tensor"),
    (["check", "--mask-mod", "{dir}/missing.py:f", "--grid", "8x8"], "does not exist"),
    (["depth", "--mask-mod", "{mod}:natten_3x3"], "needs --grid"),
    (["depth", "--pattern", "axial", "--mask-mod", "{mod}:natten_3x3", "--grid", "8x8"],
     "not both"),
    (["export", "--preset", "ylg", "--pattern", "axial", "-o", "{dir}/x.npz"], "one of"),
])
def test_bad_input_is_one_line_and_exit_2(mod, args, message):
    out = run(*[a.format(mod=mod, dir=mod.parent) for a in args])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
