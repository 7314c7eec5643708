"""Plain `pytest PATH` works from any folder: the test folders are packages (tests.ifg, ...),
so they never shadow the `ifg`, `ylg` and `experiments` packages they test."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_plain_pytest_on_a_file_from_another_folder(tmp_path):
    pytest = Path(sys.executable).parent / "pytest"  # the console script, not `python -m pytest`
    out = subprocess.run([str(pytest), "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "ifg" / "test_check.py")],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert " passed" in out.stdout


def test_every_test_folder_is_a_package():
    folders = {p.parent for p in (ROOT / "tests").rglob("test_*.py")}
    assert folders and all((folder / "__init__.py").is_file() for folder in folders)


def test_test_helpers_are_imported_relative():
    # `from clirun import ...` works only under `python -m pytest` from the root; `from .clirun`
    helpers = {p.stem for p in (ROOT / "tests").rglob("*.py")
               if not p.stem.startswith(("test_", "__", "conftest"))}
    pattern = re.compile(rf"^(from|import) ({'|'.join(sorted(helpers))})\b", re.MULTILINE)
    bad = [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py")
           if pattern.search(p.read_text())]
    assert helpers and not bad, f"import the test helpers relatively (from .clirun ...): {bad}"
