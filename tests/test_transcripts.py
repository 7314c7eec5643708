"""The console transcripts in README.md and docs/*.md run as written and print what they show.

A transcript is a fenced block whose language is ``console``: each ``$ COMMAND`` line (a ``\\``
at the end of a line continues it; ``# ...`` is a comment) is run, and the lines up to the next
``$`` line are its expected standard output. In the expected output, a line ``...`` stands for
any number of lines and ``...`` inside a line for any text (timings, numbers that change from run
to run); a command shown without output lines may print anything. A command must exit with 0,
unless the next one is ``$ echo $?``, whose output is then the exit code. Commands are ``ylg`` and
``ylg-masks``, run in this process through their programs' entry points; the blocks of one file
run in order in one fresh folder, so a later block uses what an earlier one wrote.

An HTML comment on the line above a block changes how it runs:

- ``<!-- transcript: skip: REASON -->``: not run (paper-scale training, a GPU, data this machine
  lacks, other programs);
- ``<!-- transcript: tiny: OLD => NEW; OLD => NEW -->``: each command runs with these text
  replacements, so that a test-sized run checks the command as written (``--steps 2000 =>
  --steps 2``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\S*)\s*$")
_DIRECTIVE = re.compile(r"<!--\s*transcript:\s*(skip|tiny):\s*(.*?)\s*-->")


@dataclass
class Step:
    command: str
    expected: list = field(default_factory=list)


@dataclass
class Block:
    where: str
    steps: list
    skip: str | None = None
    replacements: list = field(default_factory=list)


def _directive(lines, fence):
    """The directive on the line above the fence (a blank line between allowed)."""
    for line in reversed(lines[max(0, fence - 2):fence]):
        if line.strip():
            return _DIRECTIVE.search(line)
    return None


def blocks(name) -> list:
    """The console blocks of one file, with their directives."""
    lines = (ROOT / name).read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if m.group(1) == "console":
            block = Block(f"{name}:{i + 1}", _steps(lines[i + 1:end]))
            d = _directive(lines, i)
            if d and d.group(1) == "skip":
                block.skip = d.group(2)
            elif d:
                block.replacements = [tuple(s.strip() for s in pair.split("=>"))
                                      for pair in d.group(2).split(";")]
            found.append(block)
        i = end + 1
    return found


def _steps(body) -> list:
    steps: list = []
    continued = False
    for line in body:
        if continued:
            steps[-1].command += " " + line.strip()
        elif line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif steps:
            steps[-1].expected.append(line)
        continued = line.endswith("\\") and bool(steps) and not steps[-1].expected
        if continued:
            steps[-1].command = steps[-1].command[:-1].rstrip()
    return steps


def matches(expected, actual) -> bool:
    """Whether the lines ``actual`` fit ``expected`` (with ``...`` as described above).

    >>> matches(["a", "...", "z"], ["a", "b", "c", "z"]), matches(["t ... s"], ["t 0.1 s"])
    (True, True)
    >>> matches(["a"], ["a", "b"])
    False
    """
    pattern = "".join(r"(?:.*\n)*?" if line.strip() == "..." else
                      ".*".join(map(re.escape, line.rstrip().split("..."))) + r"[ \t]*\n"
                      for line in expected)
    return re.fullmatch(pattern, "".join(line.rstrip() + "\n" for line in actual)) is not None


def _programs():
    from ylg_cli.main import main as ylg
    from ylg_cli.masks import main as ylg_masks

    return {"ylg": ylg, "ylg-masks": ylg_masks}


def run_block(block, programs) -> None:
    """Run each command of ``block`` here (the cwd) and compare its output."""
    last = None
    for i, step in enumerate(block.steps):
        command = step.command
        for old, new in block.replacements:
            command = command.replace(old, new)
        argv = shlex.split(command, comments=True)
        if argv == ["echo", "$?"]:
            assert last is not None, f"{block.where}: echo $? before any command"
            out, code = [str(last)], 0
        else:
            assert argv[0] in programs, (f"{block.where}: cannot run {argv[0]!r} in a test; mark "
                                         f"the block <!-- transcript: skip: REASON -->")
            result = CliRunner().invoke(programs[argv[0]], argv[1:], prog_name=argv[0])
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise AssertionError(f"{block.where}: `{command}` raised") from result.exception
            out, code = result.stdout.splitlines(), result.exit_code
            next_is_echo = i + 1 < len(block.steps) and block.steps[i + 1].command == "echo $?"
            assert next_is_echo or code == 0, \
                f"{block.where}: `{command}` exited with {code}:\n{result.output}"
            last = code
        if step.expected:
            assert matches(step.expected, out), (
                f"{block.where}: `{command}` printed\n" + "\n".join(out)
                + "\n--- but the transcript shows ---\n" + "\n".join(step.expected))


@pytest.fixture
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", [f for f in FILES if blocks(f)])
def test_console_transcripts_run_as_written(name, tmp_path, monkeypatch, _keep_threads):
    monkeypatch.chdir(tmp_path)
    programs = _programs()
    ran = 0
    for block in blocks(name):
        if block.skip is None:
            run_block(block, programs)
            ran += 1
    assert ran > 0 or name != "README.md"


def test_every_file_with_commands_has_its_transcripts_found():
    assert any(b.steps for b in blocks("README.md"))
    assert all(b.skip is None or b.skip.strip() for f in FILES for b in blocks(f)), \
        "a skipped block says why"


def test_a_transcript_that_differs_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wrong = Block("here", [Step("ylg-masks check --pattern ltr --n 16", ["pattern  fixed"])])
    with pytest.raises(AssertionError, match="but the transcript shows"):
        run_block(wrong, _programs())
    failing = Block("here", [Step("ylg-masks check --pattern fixed --n 16")])
    with pytest.raises(AssertionError, match="exited with 1"):
        run_block(failing, _programs())
