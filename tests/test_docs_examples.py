"""The Python examples in docs/ run as written (as tests/test_readme.py runs the README's)."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", ["using-the-layer.md", "design.md", "analysing-masks.md"])
def test_docs_python_examples(name):
    result = doctest.testfile(str(DOCS / name), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
