"""ifg.strategies: every strategy keeps its bounds; docs/testing-patterns.md runs as written."""

import pathlib
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings

import ifg
from ifg.strategies import (enumeration_names, family_patterns, family_specs,
                            full_information_patterns, grids, masks,
                            named_patterns, patterns)

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "testing-patterns.md"


@given(grids(min_side=2, max_side=5, max_n=12))
def test_grids_keep_their_bounds(grid):
    h, w = grid
    assert 2 <= h <= 5 and 2 <= w <= 5 and h * w <= 12


@given(grids(max_side=8).flatmap(lambda g: enumeration_names(g).map(lambda e: (g, e))))
def test_enumeration_names_fit_the_grid(case):
    grid, name = case
    rank = ifg.enumeration(name, grid)  # raises if the grid does not allow it
    assert sorted(rank.tolist()) == list(range(grid[0] * grid[1]))


@given(masks(5, density=(0.2, 0.4)))
def test_masks_keep_their_density(m):
    assert m.shape == (5, 5) and m.dtype == bool
    assert 5 <= m.nnz <= 10


@given(patterns(max_n=10, steps=(1, 3), density=0.3))
def test_patterns_keep_their_bounds(p):
    assert p.n <= 10 and 1 <= p.num_steps <= 3 and p.grid is not None
    assert all(s.nnz <= 0.3 * p.n ** 2 for s in p.steps)


@given(named_patterns(max_side=6, names=["ltr", "rtl"], esa_only=True))
def test_named_patterns_are_the_paper_s_and_keep_full_information(p):
    assert p.enumeration == "manhattan" and p.grid[0] <= 6
    assert ifg.check(p).full_information


@settings(max_examples=30)
@given(full_information_patterns(max_n=12, steps=(2, 3)))
def test_esa_preserves_full_information(p):
    assert ifg.check(p).full_information
    if p.grid[0] == p.grid[1]:
        assert ifg.check(ifg.layout(p, "manhattan")).full_information


@settings(max_examples=20)
@given(full_information_patterns(max_n=9, causal=True, max_keys_per_query=4))
def test_causal_budgeted_patterns(p):
    report = ifg.check(p)
    assert report.causal_full_information and max(report.max_keys_per_query) <= 4


@pytest.mark.parametrize("make, match", [
    (lambda: grids(min_side=4, max_side=3), "min_side"),
    (lambda: masks(3, density=(0.5, 0.2)), "density"),
    (lambda: masks(1, density=(0.2, 0.7)), "no mask of side 1"),
    (lambda: patterns(max_n=1, density=(0.2, 0.7)), "no grid"),
    (lambda: named_patterns(names=["zigzag"]), "unknown pattern"),
])
def test_impossible_bounds_fail_when_built(make, match):
    with pytest.raises(ifg.InvalidArgument, match=match):
        make()


def test_the_guide_runs_as_written():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        lines = block.splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        exec("\n".join(line[indent:] for line in lines), namespace)  # the blocks call their tests
    first = blocks[0].strip().splitlines()
    assert len([line for line in first if line.strip()]) <= 13  # "a new pattern in a dozen lines"


def test_without_hypothesis_the_import_names_the_extra():
    code = ("import sys; sys.modules['hypothesis'] = None\n"  # as if hypothesis were not installed
            "import ifg, ifg.check\n"
            "try:\n    import ifg.strategies\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("ifg.strategies needs hypothesis: "
                                  "pip install 'ylg-toolkit[hypothesis]'")


@settings(max_examples=40, deadline=None)
@given(grids(max_side=6).flatmap(lambda g: family_specs(g).map(lambda s: (g, s))))
def test_family_specs_fit_their_grid(case):
    grid, spec = case
    p = ifg.pattern(spec, grid=grid)  # raises if a parameter does not fit the grid
    assert p.grid == grid and p.num_steps in (1, 2)


@settings(max_examples=40, deadline=None)
@given(family_patterns(max_side=4, names=["axial", "global"]))
def test_family_patterns_keep_their_bounds(p):
    assert p.n <= 16 and 1 <= p.num_steps <= 4
    assert "axial" in p.name or "global" in p.name


def test_family_specs_refuse_an_unknown_family():
    with pytest.raises(ifg.InvalidArgument, match="did you mean swin"):
        family_specs((4, 4), names=["swim"])
