"""ylg-masks list / check: output, exit codes, --json keys, one-line errors."""

import json

import pytest

from ylg_cli.masks import main
from .clirun import runner

JSON_KEYS = {"pattern", "n", "grid", "enumeration", "steps", "edges", "max_keys_per_query",
             "empty_rows", "full_information", "causal_full_information", "missing_pairs",
             "total_pairs", "witness", "lower_bound_edges", "seconds"}


run = runner(main)


def test_list_names_patterns_and_enumerations():
    out = run("list")
    assert out.exit_code == 0
    for name in ("ltr", "rtl", "fixed", "strided", "dense", "manhattan", "hilbert"):
        assert name in out.output


def test_strided_81_fails_plainly_with_a_witness():
    out = run("check", "--pattern", "strided", "--n", "81")
    assert out.exit_code == 1
    assert "NO: 3,240 of 6,561 pairs have no path" in out.output
    assert "witness: no path from key" in out.output
    assert "causal            yes" in out.output


def test_strided_holds_causally():
    assert run("check", "--pattern", "strided", "--n", "81", "--causal").exit_code == 0


def test_ltr_with_esa_holds():
    assert run("check", "--pattern", "ltr", "--n", "256", "--esa").exit_code == 0


def test_json_has_the_documented_keys():
    out = run("check", "--pattern", "fixed", "--n", "81", "--esa", "--json")
    assert out.exit_code == 1
    data = json.loads(out.output)
    assert JSON_KEYS <= set(data)
    assert data["enumeration"] == "manhattan" and data["grid"] == [9, 9]
    assert data["witness"].keys() == {"source", "target"}
    assert data["missing_pairs"] > 0


@pytest.mark.parametrize("args, message", [
    (("--pattern", "strid", "--n", "81"), "did you mean strided"),
    (("--pattern", "ltr", "--n", "0"), "positive integer"),
    (("--pattern", "ltr", "--n", "80", "--esa"), "not a perfect square"),
    (("--pattern", "ltr", "--n", "81", "--enumeration", "hilbert"), "power-of-two"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = run("check", *args)
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]


def _strict(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("args", [
    ("check", "--pattern", "ltr", "--n", "1", "--json"),  # a 1x1 grid: no neighbour share
    ("check", "--pattern", "fixed", "--n", "4", "--json"),
    ("extend", "--pattern", "fixed", "--n", "1", "--json"),
    ("extend", "--pattern", "fixed", "--n", "9", "--json"),
    ("search", "--n", "4", "--seconds", "0.5", "--json"),
])
def test_every_json_output_is_strict_json(args):
    out = run(*args)
    assert out.exit_code in (0, 1), out.output
    _strict(out.output.splitlines()[-1])


def test_check_of_a_mask_file_json_is_strict(tmp_path):
    path = tmp_path / "m.npz"
    assert run("export", "--heads", "ltr:1,ltr:2", "--key-grid", "1x1", "--query-grid", "1x1",
               "-o", path).exit_code == 0
    out = run("check", "--masks", path, "--json")
    assert out.exit_code == 0 and _strict(out.output)["holds"]


@pytest.mark.parametrize("args", [
    ("check", "--pattern", "ltr", "--n", str(10**9)),
    ("render", "--pattern", "ltr", "--n", str(10**9)),
    ("extend", "--pattern", "ltr", "--n", str(10**9)),
    ("export", "--preset", "ylg", "--query-grid", "100000x100000"),
])
def test_sizes_that_cannot_fit_are_refused_before_allocating(tmp_path, args):
    output = tmp_path / "out.npz" if args[0] == "export" else tmp_path / "out.png"
    extra = ("-o", output) if args[0] in ("render", "export") else ()
    out = run(*args, *extra)
    assert out.exit_code == 2
    assert out.output.count("\n") == 1 and "would need about" in out.output
    assert "of memory (estimated)" in out.output and not output.exists()


def test_extend_refuses_a_pattern_whose_dense_arrays_cannot_fit(monkeypatch):
    import ifg.memory

    monkeypatch.setattr(ifg.memory, "available_memory", lambda: 50 * 2**20)
    out = run("extend", "--pattern", "fixed", "--n", "1024")
    assert out.exit_code == 2 and "extending a pattern over N = 1,024 positions" in out.output


def test_seed_reaches_the_random_pattern():
    import ifg

    for seed in (1, 2):
        out = run("check", "--pattern", "random", "--n", "81", "--seed", seed, "--json")
        assert json.loads(out.output)["edges"] == ifg.pattern("random", 81, seed=seed).edges
    assert run("check", "--pattern", "random", "--n", "81", "--seed", "-1").exit_code == 2


@pytest.mark.parametrize("args", [
    ("search", "--n", str(10**10), "--seconds", "1"),
    ("render", "--what", "enumeration", "--n", str(10**10), "-o", "never.png"),
])
def test_search_and_enumeration_figures_refuse_grids_that_cannot_fit(args):
    out = run(*args)
    assert out.exit_code == 2 and "would need about" in out.output.splitlines()[-1]


def test_a_grid_alone_gives_the_number_of_positions(tmp_path):
    """--grid 9x8 without --n: N is 72 (it was refused: 'give --pattern and --n')."""
    out = run("check", "--pattern", "ltr", "--grid", "9x8")
    assert out.exit_code == 0, out.output
    assert "positions         72 (grid 9x8" in out.output
    out = run("extend", "--pattern", "fixed", "--grid", "3x3")
    assert out.exit_code == 0 and "N = 9" in out.output, out.output
    out = run("render", "--pattern", "ltr", "--grid", "3x2", "-o", tmp_path / "r.png")
    assert out.exit_code == 0 and (tmp_path / "r.png").is_file(), out.output
    for command in ("extend", "search"):
        out = run(command, "--pattern", "fixed") if command == "extend" else run(command)
        assert out.exit_code == 2 and "Error: give --n or --grid" in out.output, out.output
    out = run("check", "--pattern", "ltr", "--grid", "9by8")
    assert out.exit_code == 2 and "Invalid value for --grid: expected HxW" in out.output
