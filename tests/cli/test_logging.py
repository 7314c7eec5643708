"""The command line shows the library's log messages as plain lines on stderr, as before they
went through logging; ``--quiet`` keeps only the warnings."""

import logging

from click.testing import CliRunner

from ylg_cli.main import main


def test_the_command_line_still_shows_the_lines_and_quiet_keeps_warnings(tmp_path):
    logger = logging.getLogger("ylg")
    level, handlers = logger.level, list(logger.handlers)
    runner = CliRunner()
    args = ["train", "--steps", "1", "--width", "8", "--batch-size", "4", "--attention",
            "none", "--device", "cpu"]
    shown = runner.invoke(main, [*args, "--out", str(tmp_path / "e")])
    assert shown.exit_code == 0, shown.output
    assert "data: digits:train, 1500 images, 10 classes, 1 channel(s) at 32x32\n" in \
        shown.stderr  # a plain "message" line, as before
    quiet = runner.invoke(main, [*args, "--out", str(tmp_path / "f"), "--quiet"])
    assert quiet.exit_code == 0 and "data:" not in quiet.stderr
    assert (logger.level, logger.handlers) == (level, handlers)  # restored after each command
