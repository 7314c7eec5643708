"""``ylg --threads N`` and ``$YLG_THREADS`` set torch's CPU threads before the command runs."""

import subprocess
import sys

import pytest
import torch

from ylg_cli.main import main as ylg

from .clirun import runner


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _threads_seen_by_a_command(tmp_path, *args, env=None):
    """Run ``ylg ARGS plot EMPTY_DIR`` (refused after the group has run); the exit code and the
    thread count torch had."""
    from click.testing import CliRunner

    result = CliRunner().invoke(ylg, [*args, "plot", str(tmp_path)], env=env)
    return result, torch.get_num_threads()


@pytest.mark.parametrize("args, env, expected", [
    (("--threads", "3"), None, 3),
    ((), {"YLG_THREADS": "2"}, 2),
    (("--threads", "1"), {"YLG_THREADS": "3"}, 1),  # the option wins over the variable
])
def test_the_option_and_the_variable_set_the_threads(tmp_path, args, env, expected):
    torch.set_num_threads(4 if expected != 4 else 5)
    result, threads = _threads_seen_by_a_command(tmp_path, *args, env=env)
    assert "no log.jsonl" in result.output  # the command itself ran, after the threads were set
    assert threads == expected


def test_auto_follows_the_rule(tmp_path, monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (5.0, 5.0, 5.0))
    torch.set_num_threads(2)
    _, threads = _threads_seen_by_a_command(tmp_path, "--threads", "auto")
    assert threads == 1  # a loaded machine: one thread


@pytest.mark.parametrize("args, env, shown", [
    (("--threads", "0"), None, "'0'"),
    (("--threads", "two"), None, "'two'"),
    ((), {"YLG_THREADS": "-1"}, "'-1'"),
    ((), {"YLG_THREADS": "1.5"}, "'1.5'"),
])
def test_a_bad_thread_count_is_one_line(tmp_path, args, env, shown):
    from click.testing import CliRunner

    result = CliRunner().invoke(ylg, [*args, "plot", str(tmp_path)], env=env)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: threads must be a positive integer or auto, got {shown}"]


def test_a_fresh_process_gets_the_intra_and_inter_op_threads():
    code = ("import sys, torch; from ylg_cli.main import main\n"
            "try:\n    main(['plot', '.'], standalone_mode=False)\nexcept Exception:\n    pass\n"
            "print(torch.get_num_threads(), torch.get_num_interop_threads())")
    out = subprocess.run([sys.executable, "-c", code], env={"YLG_THREADS": "1", "PATH": ""},
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["1", "1"], out.stderr


def test_every_long_command_says_what_to_do_on_a_shared_machine():
    run = runner(ylg)
    for name in ("train", "evaluate", "invert", "attention-map", "compare"):
        result = run(name, "--help")
        assert "YLG_THREADS=1" in result.output and f"ylg --threads 1 {name}" in \
            " ".join(result.output.split()).replace("- ", "-"), name
