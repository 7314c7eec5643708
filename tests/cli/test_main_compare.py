"""ylg compare: table, strict JSON, figure, resumable cache folder, one-line errors."""

import json

import numpy as np
import pytest

from ylg_cli.main import main
from .clirun import runner

run = runner(main)
TINY = ["--seeds", "2", "--steps", "2", "--grid", "3", "--quiet"]


def test_table_json_and_figure(tmp_path):
    cache = tmp_path / "cache"
    table = run("compare", "fixed", "dense", "--task", "flow", "--cache", cache,
                "-o", tmp_path / "new" / "r.png", *TINY)  # a missing folder is made
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[:3] == ["mask", "set", "accuracy"]
    assert lines[1].startswith("fixed") and lines[2].startswith("dense")
    assert (tmp_path / "new" / "r.png").stat().st_size > 1000
    assert len(list(cache.glob("*.json"))) == 4
    assert run("compare", "dense", "--task", "images", "--cache", cache, *TINY).exit_code == 0
    # --json from the same cache: one strict JSON object on stdout
    out = run("compare", "fixed", "dense", "--task", "flow", "--cache", cache, "--json", *TINY)
    assert out.exit_code == 0, out.output
    d = json.loads(out.output.splitlines()[0], parse_constant=lambda c: 1 / 0)
    assert d["items"] == ["fixed", "dense"] and len(d["runs"]["dense"]) == 2


def test_residual_runs_are_their_own_and_say_so(tmp_path):
    cache = tmp_path / "cache"
    plain = run("compare", "fixed", "--task", "flow", "--cache", cache, "--json", *TINY)
    res = run("compare", "fixed", "--task", "flow", "--cache", cache, "--json", "--residual", *TINY)
    assert plain.exit_code == 0 and res.exit_code == 0, res.output
    d0, d1 = (json.loads(r.output.splitlines()[0]) for r in (plain, res))
    assert (d0["settings"]["residual"], d1["settings"]["residual"]) == (False, True)
    assert len(list(cache.glob("*.json"))) == 4  # trained again, not read from the plain runs
    # the accuracy is split by the graph the probe has: `fixed`'s steps, plus the identity edges
    # with the residual (step 2 of `fixed` has empty rows: its own token then reaches them)
    from ylg.compare import resolve

    steps = resolve("fixed", (3, 3)).dense().any(1).astype(int)  # (layers, N, N), q x k
    for d, own in ((d0, 0), (d1, 1)):
        s1, s2 = (m + own * np.eye(9, dtype=int) for m in steps)
        assert d["runs"]["fixed"][0]["unreachable_pairs"] == int(((s2 @ s1) == 0).sum())
    assert d0["runs"]["fixed"][0]["unreachable_pairs"] > d1["runs"]["fixed"][0]["unreachable_pairs"]


def test_bad_items_are_one_line_errors(tmp_path):
    for args, message in ((["fixd"], "unknown mask set 'fixd'"),
                          (["ylgg"], "(known: ylg, ylg-no-esa, ylg-strided, ltr"),
                          ([str(tmp_path / "none.npz")], "does not exist"),
                          (["dense", "--task", "nope"], "unknown task 'nope'"),
                          (["dense", "--seeds", "0"], "seeds"),
                          (["dense", "--grid", "0"], "grid height")):
        r = run("compare", *args, "--cache", tmp_path, "--quiet")
        assert r.exit_code == 2, r.output
        assert r.output.count("\n") == 1 and r.output.startswith("Error: "), r.output
        assert message in r.output


@pytest.mark.parametrize("option,value", [("--data", "digits"), ("--eval-patches", "2")])
def test_an_images_option_with_the_flow_task_is_one_line_before_any_work(tmp_path, option,
                                                                         value):
    from .clirun import runner

    result = runner(main)("compare", "dense", "local", "--task", "flow", option, value,
                          "--cache", tmp_path / "cache")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {option} applies to --task images"]
    assert not (tmp_path / "cache").exists()


def test_families_on_the_photographs(tmp_path):
    """The images task on photos (crops of the photographs shipped with scikit-image) with 2-D
    family items: offline, one table with the budget and the depth of each set."""
    r = run("compare", "ylg", "neighborhood:kernel=3", "swin:window=4", "--task", "images",
            "--data", "photos", "--cache", tmp_path, "--seeds", "2", "--steps", "2",
            "--grid", "8", "--eval-patches", "1", "--quiet")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "keys/q" in lines[0] and "depth" in lines[0]
    assert [line.split()[0] for line in lines[1:4]] == ["ylg", "neighborhood:kernel=3",
                                                         "swin:window=4"]
