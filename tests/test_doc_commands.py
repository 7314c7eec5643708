"""Every ``ylg`` / ``ylg-masks`` command written in the docs parses with the programs as they are.

The console transcripts run (``tests/test_transcripts.py``); the other command listings in
README.md, docs/*.md and experiments/*.sh (paper-scale runs, GPU runs, files a reader makes
first) cannot run in a test, but their subcommands, option names and option values must still
exist: each is parsed by the program's click parser, without running it. A path that does not
exist yet (a checkpoint the reader trains first) is accepted.
"""

from __future__ import annotations

import re
import shlex

import click
import pytest

from ylg_cli.main import main as ylg
from ylg_cli.masks import main as ylg_masks

from .test_transcripts import _FENCE, FILES as DOCS, ROOT

FILES = [*DOCS, *sorted(f"experiments/{p.name}" for p in (ROOT / "experiments").glob("*.sh"))]
PROGRAMS = {"ylg": ylg, "ylg-masks": ylg_masks, "ylg_cli.main": ylg, "ylg_cli.masks": ylg_masks}
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")  # VAR=value before a command


def _shell_lines(name: str) -> list[tuple[int, str]]:
    """(line number, command) of the shell text in a file: its fenced blocks other than
    python (a markdown file) or the whole file (a shell script); continuations joined."""
    lines = (ROOT / name).read_text().splitlines()
    if name.endswith(".sh"):
        chosen = list(enumerate(lines, 1))
    else:
        chosen, inside, language = [], False, ""
        for i, line in enumerate(lines, 1):
            fence = _FENCE.match(line.strip())
            if fence:
                inside, language = not inside, fence.group(1) if not inside else ""
                continue
            if not inside or language in ("python", "pycon", "json", "text", "toml"):
                continue
            if language == "console":  # a transcript: its commands are the "$ " lines
                if line.startswith("$ ") or (chosen and chosen[-1][1].rstrip().endswith("\\")
                                             and chosen[-1][0] == i - 1):
                    chosen.append((i, line))
            else:
                chosen.append((i, line))
    commands, pending, start = [], "", 0
    for i, line in chosen:
        text = line.strip()
        if not pending:
            start = i
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        commands.append((start, pending + text))
        pending = ""
    return commands


def _invocations(name: str) -> list[tuple[str, int, str, list[str]]]:
    """Each ``ylg``/``ylg-masks`` call in a file: (file, line, program, arguments)."""
    found = []
    for line, text in _shell_lines(name):
        text = text.removeprefix("$ ")
        try:
            words = shlex.split(text, comments=True)
        except ValueError:
            continue  # not shell (a table row, a transcript's output)
        for k, word in enumerate(words):
            program = word.rsplit("/", 1)[-1]
            called = (program in ("ylg", "ylg-masks")
                      and all(_ENV.match(w) for w in words[:k])) or (
                program in PROGRAMS and k > 0 and words[k - 1] == "-m")
            if not called:
                continue
            args = []
            for arg in words[k + 1:]:
                if arg in ("|", "&&", ";", "2>", "&", "||") or arg.startswith(">"):
                    break
                args.append(arg)
            # a usage synopsis (``[--n N]``, ``ARGS...``) is not a command, and one that takes
            # a shell variable's value (a script's ``"$DATA"``) cannot be parsed without it
            if args and not any(a.startswith(("[", "$")) or a.endswith("...") for a in args):
                found.append((name, line, program, args))
            break
    return found


CASES = [case for name in FILES for case in _invocations(name)]


def _parse(program: click.Group, args: list[str]) -> None:
    """Parse ``args`` as the program would, down to the subcommand's options; run nothing."""
    ctx = program.make_context(program.name or "prog", list(args), resilient_parsing=False)
    with ctx:
        rest = [*ctx._protected_args, *ctx.args] if hasattr(ctx, "_protected_args") \
            else [*ctx.protected_args, *ctx.args]
        if not rest:
            return
        name, command, rest = program.resolve_command(ctx, rest)
        assert command is not None, f"no subcommand {name!r}"
        command.make_context(name or "", rest, parent=ctx).close()


def test_the_docs_hold_commands_to_check():
    assert len(CASES) >= 30, [c[:2] for c in CASES]
    assert {c[2] for c in CASES} >= {"ylg", "ylg-masks"}


@pytest.mark.parametrize("name, line, program, args", CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_a_documented_command_parses(name, line, program, args, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing a parser might touch lands in the repository
    try:
        _parse(PROGRAMS[program], args)
    except click.exceptions.Exit:
        pass  # --help, --version
    except click.BadParameter as err:
        if "does not exist" not in str(err.format_message()):
            pytest.fail(f"{name}:{line}: {program} {shlex.join(args)}: {err.format_message()}")
    except click.UsageError as err:
        pytest.fail(f"{name}:{line}: {program} {shlex.join(args)}: {err.format_message()}")


def test_a_wrong_option_is_caught():
    with pytest.raises(click.UsageError, match="No such option"):
        _parse(ylg, ["train", "--stpes", "3"])
    with pytest.raises(click.UsageError, match="No such command"):
        _parse(ylg_masks, ["chek", "--pattern", "ltr"])
