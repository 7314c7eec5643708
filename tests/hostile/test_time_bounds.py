"""Time bounds: ``search --seconds`` holds inside a long candidate, ``extend`` has a bound of
its own, and its two-step prune no longer multiplies dense N x N matrices."""

import time

import pytest
from click.testing import CliRunner

import ifg
from ifg.deadline import OutOfTime
from ifg.errors import InvalidArgument
from ylg_cli.masks import main as ylg_masks

SLACK = 15  # seconds beyond the bound: one round of the greedy search on a slow shared CPU


@pytest.mark.timeout(120)
@pytest.mark.parametrize("grid", [None, (1, 4096)])
def test_search_stops_at_its_seconds_inside_a_long_candidate(grid):
    """--grid 1x4096 --seconds 2 ran past 120 s on main (a window candidate's extend)."""
    t0 = time.monotonic()
    found = ifg.search(4096, seconds=2, grid=grid, seed=0)
    assert time.monotonic() - t0 < 2 + SLACK
    assert found.evaluated >= 1


@pytest.mark.timeout(120)
def test_extend_stops_at_its_seconds_and_answers_with_the_hub():
    """fixed at N = 4,096 ran past 300 s on main (the prune's dense N^3 product)."""
    t0 = time.monotonic()
    ext = ifg.extend(ifg.pattern("fixed", 4096), seconds=2)
    assert time.monotonic() - t0 < 2 + SLACK
    assert ext.method == "hub" and ifg.full_information(ext.pattern)


@pytest.mark.timeout(120)
def test_extend_without_a_fallback_is_one_error_at_its_seconds():
    t0 = time.monotonic()
    with pytest.raises(OutOfTime, match=r"extending 'fixed' over N = 4,096 positions ran past "
                                        r"its limit of 1 s"):
        ifg.extend(ifg.pattern("fixed", 4096), causal=True, seconds=1)
    assert time.monotonic() - t0 < 1 + SLACK


@pytest.mark.parametrize("seconds", ["nan", "inf", "0", "-1"])
def test_seconds_that_bound_nothing_are_refused_in_one_line(seconds):
    result = CliRunner().invoke(ylg_masks, ["search", "--n", "16", "--seconds", seconds])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --seconds must be a positive number of seconds")
    assert "searching" not in result.output
    with pytest.raises(InvalidArgument, match="seconds must be"):
        ifg.extend(ifg.pattern("fixed", 16), seconds=float(seconds))


def test_search_shows_no_progress_before_its_parameter_errors():
    result = CliRunner().invoke(ylg_masks, ["search", "--n", "16", "--steps", "1"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --steps must be at least 2"), result.output


def test_extend_takes_seconds_on_the_command_line():
    result = CliRunner().invoke(ylg_masks, ["extend", "--pattern", "fixed", "--n", "4096",
                                            "--causal", "--seconds", "1"])
    assert result.exit_code == 2, result.output
    assert "ran past its limit of 1 s" in result.output and "Traceback" not in result.output
