"""Layers point one way: importing ifg never imports torch."""

import subprocess
import sys


def test_importing_ifg_never_imports_torch():
    code = "import sys, ifg, ifg.check, ifg.maskset; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _imports(package):
    """``{module: set of modules it imports}`` for every module of ``package``, function-level
    imports included (read from the source, not by importing)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    graph = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
        graph[name] = found
    return graph


def test_ylg_never_imports_click_or_the_cli():
    for module, found in _imports("ylg").items():
        up = sorted(m for m in found if m.split(".")[0] in ("click", "cli"))
        assert not up, f"{module} imports {up}"


def test_ylg_has_no_import_cycle():
    graph = _imports("ylg")
    graph = {m: {d for d in found if d in graph and d != m and not m.startswith(d + ".")}
             for m, found in graph.items()}  # a module importing its own package is no cycle
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            assert state.get(d) != "open", f"import cycle: {' -> '.join(path + [m, d])}"
            if d not in state:
                visit(d, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
