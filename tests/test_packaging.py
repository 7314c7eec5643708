"""The wheel's layout: every package listed, the CLI installed as ``ylg_cli`` (never ``cli``)."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed():
    folders = {"ifg": "ifg", "ylg": "ylg", "cli": "ylg_cli"}
    found = set()
    for folder, name in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert found == set(_setuptools()["packages"])
    assert _setuptools()["package-dir"] == {"ylg_cli": "cli"}


def test_the_cli_imports_by_its_installed_name_outside_the_repo(tmp_path):
    code = ("import importlib.util, ylg_cli.main, ylg_cli.masks; "
            "print(importlib.util.find_spec('cli') is None)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "True"


def test_entry_points_name_ylg_cli():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ylg-masks": "ylg_cli.masks:main", "ylg": "ylg_cli.main:main"}


def test_version_from_the_package_metadata():
    from importlib.metadata import version

    from click.testing import CliRunner

    from ylg_cli.main import main as ylg
    from ylg_cli.masks import main as ylg_masks

    for program, name in ((ylg, "ylg"), (ylg_masks, "ylg-masks")):
        result = CliRunner().invoke(program, ["--version"], prog_name=name)
        assert result.exit_code == 0
        assert result.output == f"{name} {version('ylg-toolkit')}\n"
