"""make demo: it runs ylg/ylg-masks commands, and its report lists exactly the commands it ran."""

import html
import re
import shlex

import pytest

from experiments import demo


class _Recorder:
    """Stands for a click program: records each argument list it is called with."""

    def __init__(self, name, ran):
        self.name, self.ran = name, ran

    def main(self, args, prog_name, standalone_mode):
        assert prog_name == self.name and standalone_mode is False
        self.ran.append([prog_name, *args])
        print(f"{prog_name} ran")
        return 0


def _commands_in(page):
    return [shlex.split(html.unescape(c))
            for c in re.findall(r"<code class='command'>(.*?)</code>", page)]


def test_the_report_lists_exactly_the_commands_that_ran(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(demo, "_programs",
                        lambda: {n: _Recorder(n, ran) for n in ("ylg", "ylg-masks")})
    sections = demo.demo(tmp_path / "demo", steps=7, invert_steps=3)
    page = demo.write_report(sections, tmp_path / "demo" / "report.html").read_text()
    assert _commands_in(page) == ran
    assert len(ran) == 8 + 2 + 1 + 1 + 2 + 1 + 2 + 1
    train = next(argv for argv in ran if argv[:2] == ["ylg", "train"])
    assert train[train.index("--steps") + 1] == "7"  # the budget it ran, not a fixed one
    inversions = [argv for argv in ran if argv[1] in ("invert", "attention-map")]
    assert inversions and all(argv[argv.index("--steps") + 1] == "3" for argv in inversions)


def test_a_command_runs_through_its_program_and_its_output_is_kept(tmp_path):
    section = demo.Section("check")
    code = demo.run(section, ["ylg-masks", "check", "--pattern", "fixed", "--n", "81"],
                    ok=(0, 1))
    assert code == 1  # fixed lacks Full Information: the command's own exit code
    assert section.commands == [["ylg-masks", "check", "--pattern", "fixed", "--n", "81"]]
    assert section.text.startswith("$ ylg-masks check --pattern fixed --n 81\npattern ")
    assert "Full Information  NO" in section.text


def test_a_command_that_fails_stops_the_demo(tmp_path):
    with pytest.raises(SystemExit, match="exited with 2"):
        demo.run(demo.Section("bad"), ["ylg-masks", "check", "--pattern", "nope", "--n", "81"])


def test_the_report_escapes_text_and_shows_the_figures_that_exist(tmp_path):
    (tmp_path / "samples.png").write_bytes(b"\x89PNG")
    section = demo.Section("Samples", commands=[["ylg", "sample", "-o", tmp_path / "a b.png"]],
                           text="wrote <samples>",
                           images=[tmp_path / "samples.png", tmp_path / "missing.png"])
    page = demo.write_report([section], tmp_path / "report.html").read_text()
    assert "wrote &lt;samples&gt;" in page
    assert "<img src='samples.png'" in page and "missing.png" not in page
    assert _commands_in(page) == [["ylg", "sample", "-o", str(tmp_path / "a b.png")]]


def test_the_budgets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("YLG_DEMO_STEPS", "12")
    monkeypatch.setenv("YLG_DEMO_INVERT_STEPS", "5")
    assert demo.steps_from_environment() == (12, 5)
