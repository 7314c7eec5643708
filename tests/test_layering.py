"""Layers point one way: importing ifg never imports torch, ylg never imports click or the CLI,
and no module of ifg or ylg imports itself again through others (no import circle)."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ifg", "ylg")


def test_importing_ifg_never_imports_torch():
    code = "import sys, ifg, ifg.check, ifg.maskset; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def torch_imports(sources):
    """``{module: line}`` of every import of torch in ``sources``, inside functions too."""
    found = {}
    for module, (source, _) in sources.items():
        for node in ast.walk(ast.parse(source)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "torch" or n.startswith("torch.") for n in names):
                found.setdefault(module, node.lineno)
    return found


def test_no_ifg_source_imports_torch_not_even_inside_a_function():
    assert torch_imports(_sources(ROOT, ("ifg",))) == {}


def test_a_torch_import_inside_a_function_is_found():
    source = "def f():\n    from torch.nn import functional\n    return functional\n"
    assert torch_imports({"ifg.x": (source, False)}) == {"ifg.x": 2}
    assert torch_imports({"ifg.x": ("import numpy\n", False)}) == {}


def _sources(root, packages=PACKAGES):
    """``{module: (source, is_package)}`` for every module of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path.read_text(), is_package)
    return found


def _imports(module, source, is_package, modules):
    """The modules that ``module``'s source imports, read from the source (not by importing):
    imports inside functions included; ``from package import name`` counts as an import of
    ``package.name`` when that is a module; a relative import is resolved."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[:len(here) - node.level + 1]
                base = ".".join([*here, base] if base else here)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
    # importing a.b.c runs a.b's __init__ first, unless the importer lives inside a.b already
    for name in list(found):
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if not (module == parent or module.startswith(parent + ".")):
                found.add(parent)
    return {d for d in found if d in modules and d != module}


def import_graph(sources):
    """``{module: set of project modules it imports}`` from ``{module: (source, is_package)}``."""
    return {m: _imports(m, src, is_package, sources) for m, (src, is_package) in sources.items()}


def import_cycle(graph):
    """One import circle of ``graph`` as a list of modules (first == last), or None."""
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                return path[path.index(d):] + [d] if d in path else path + [d]
            if d not in state:
                cycle = visit(d, path + [d])
                if cycle:
                    return cycle
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m, [m])
            if cycle:
                return cycle
    return None


def test_ylg_never_imports_click_or_the_cli():
    for module, (source, is_package) in _sources(ROOT, ("ylg",)).items():
        found = _imports(module, source, is_package, {"click", "cli", "ylg_cli"})
        assert not found, f"{module} imports {sorted(found)}"


def test_no_import_cycle():
    cycle = import_cycle(import_graph(_sources(ROOT)))
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


# the two circles the remodel opened, as they were written (issue 25), in miniature
_OLD_CIRCLES = {
    "ifg layout and to_maskset": {
        "ifg.pattern": ("class Pattern:\n    def to_maskset(self):\n"
                        "        from ifg.maskset import MaskSet\n", False),
        "ifg.enumerations": ("def layout(pattern):\n    from ifg.pattern import Pattern\n", False),
        "ifg.maskset": ("from ifg.enumerations import grid_of\nfrom ifg.pattern import Pattern\n",
                        False),
    },
    "ylg.invert's __getattr__ shim": {
        "ylg": ("", True),
        "ylg.invert": ("def __getattr__(name):\n    from ylg import invert_jobs\n", False),
        "ylg.invert_jobs": ("from ylg.invert import Budget\n", False),
    },
}


@pytest.mark.parametrize("sources", _OLD_CIRCLES.values(), ids=_OLD_CIRCLES.keys())
def test_the_old_circles_are_found(sources):
    cycle = import_cycle(import_graph(sources))
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) >= 3


@pytest.mark.parametrize("module, line", [
    # the shim put back: the package's jobs read lazily by the optimiser
    ("ylg/invert/optimise.py", "def __getattr__(name):\n    from ylg.invert import jobs\n"),
    # layout put back beside the enumerations, reading Pattern in the function
    ("ifg/enumerations.py", "def layout(pattern):\n    from ifg.pattern import Pattern\n"),
])
def test_a_circle_put_back_into_the_tree_is_found(tmp_path, module, line):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / module, "a") as f:
        f.write("\n\n" + line)
    cycle = import_cycle(import_graph(_sources(tmp_path)))
    assert cycle is not None and module[:-3].replace("/", ".") in cycle


def test_from_package_import_module_is_an_import_of_the_module():
    sources = {"ylg": ("", True), "ylg.a": ("from ylg import b\n", False),
               "ylg.b": ("from . import c\n", False), "ylg.c": ("", False)}
    assert import_graph(sources) == {"ylg": set(), "ylg.a": {"ylg", "ylg.b"},
                                     "ylg.b": {"ylg", "ylg.c"}, "ylg.c": set()}


def test_private_names_rarely_cross_a_module_boundary_and_say_why():
    crossing = []
    for module, (source, _) in _sources(ROOT).items():
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                private = [a.name for a in node.names
                           if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    text = "\n".join(lines[node.lineno - 1:node.end_lineno])
                    crossing.append((module, private, "#" in text))
    assert len(crossing) <= 5, crossing
    assert all(reason for _, _, reason in crossing), [c for c in crossing if not c[2]]


def test_ylg_has_few_rooms_at_its_top_and_no_module_too_long_to_read():
    top = sorted(p.name for p in (ROOT / "ylg").glob("*.py"))
    assert len(top) <= 15, top
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "ylg").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 550}
    assert not long, long
