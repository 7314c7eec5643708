"""ylg-masks extend / search, and the locality lines of check."""

import json


from ylg_cli.masks import main
from .clirun import runner


run = runner(main)


def test_extend_fixed_within_ltrs_budget_prints_what_it_added(tmp_path):
    out_file = tmp_path / "ext.json"
    out = run("extend", "--pattern", "fixed", "--n", "81", "--max-keys", "10", "-o", str(out_file))
    assert out.exit_code == 0, out.output
    assert "added 396 edges (step 1: 0, step 2: 396)" in out.output
    assert "optimal: any extension adds at least 396" in out.output
    assert "      0 <- 8, 17, 26, 35, 44, 53, 62, 71, 80" in out.output
    saved = json.loads(out_file.read_text())
    assert saved["added_edges"] == len(saved["added"]) == 396 < 468


def test_extend_without_a_budget_says_hub():
    out = run("extend", "--pattern", "fixed", "--n", "81")
    assert out.exit_code == 0 and "by a hub: position" in out.output


def test_extend_bad_budget_is_one_line_exit_2():
    out = run("extend", "--pattern", "fixed", "--n", "81", "--max-keys", "5")
    assert out.exit_code == 2
    assert out.output.count("\n") == 1 and out.output.startswith("Error: max_keys_per_query=5")


def test_extend_json():
    out = run("extend", "--pattern", "strided", "--n", "81", "--max-keys", "10", "--json")
    assert out.exit_code == 0 and json.loads(out.output)["added_edges"] == 360


def test_search_writes_results(tmp_path):
    out_file = tmp_path / "s.json"
    out = run("search", "--n", "81", "--seconds", "20", "--max-keys", "10", "-o", str(out_file))
    assert out.exit_code == 0, out.output
    assert "baseline:" in out.output and "ltr with ESA" in out.output
    saved = json.loads(out_file.read_text())
    assert saved["results"] and all(r["full_information"] for r in saved["results"])
    assert all(r["max_keys_per_query"] <= 10 for r in saved["results"])


def test_search_bad_input_exit_2():
    out = run("search", "--n", "80")
    assert out.exit_code == 2 and "perfect square" in out.output


def test_check_shows_locality_per_step():
    out = run("check", "--pattern", "ltr", "--n", "256")
    assert "locality 1        mean distance 3.75, 25% of 4-neighbours attended" in out.output
    assert "locality 2        mean distance 12.08" in out.output
    data = json.loads(run("check", "--pattern", "ltr", "--n", "256", "--esa", "--json").output)
    assert round(data["locality"][1]["mean_distance"], 2) == 9.51


def test_extend_to_npz_writes_a_mask_file_that_loads_and_trains(tmp_path):
    import torch

    import ifg
    from ylg.attention import Attention2d

    path = tmp_path / "fixed-ext.npz"
    out = run("extend", "--pattern", "fixed", "--n", "16", "--esa", "-o", path)
    assert out.exit_code == 0, out.output
    ms = ifg.io.load(path)  # a mask file, not JSON; keys on the 4x4 grid, queries on 8x8
    assert (ms.key_grid, ms.query_grid, ms.enumeration) == ((4, 4), (8, 8), "manhattan")
    assert [(h.pattern, h.step) for h in ms.heads] == [("fixed-ext", 1), ("fixed-ext", 2)]
    assert ifg.check(ms.group_pattern(0)).full_information
    layer = Attention2d(16, ms)
    assert layer(torch.randn(1, 16, 8, 8)).shape == (1, 16, 8, 8)


def test_search_to_npz_writes_its_best_pattern_and_json_stays_json(tmp_path):
    import ifg

    out = run("search", "--n", "16", "--seconds", "1", "--no-windows", "-o", tmp_path / "b.npz",
              "--query-grid", "4x4")
    assert out.exit_code == 0, out.output
    ms = ifg.io.load(tmp_path / "b.npz")
    assert ms.query_grid == ms.key_grid == (4, 4)
    assert all(ifg.check(ms.group_pattern(g)).full_information for g in range(len(ms.groups)))
    out = run("search", "--n", "16", "--seconds", "1", "--no-windows", "-o", tmp_path / "b.json")
    assert out.exit_code == 0 and json.loads((tmp_path / "b.json").read_text())["results"]


def test_output_suffix_other_than_npz_or_json_is_refused(tmp_path):
    out = run("extend", "--pattern", "fixed", "--n", "9", "-o", tmp_path / "x.txt")
    assert out.exit_code == 2 and "must end in .npz (a mask file) or .json" in out.output
    assert not (tmp_path / "x.txt").exists()
