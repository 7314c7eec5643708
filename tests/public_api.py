"""The public callables of ``ifg`` and ``ylg``, and which of their parameters and returns lack an
annotation. Used by tests/test_typing.py and benchmarks/annotation_coverage.py.

Public: a name not starting with ``_``, defined in a module (not imported into it) of a package
whose file name does not start with ``_`` (``__init__`` counts). For a function: its parameters and
return. For a class: its ``__init__`` and ``__call__`` and its public methods, static and class
methods and properties (the getter's return), those defined in the class itself (an inherited
``__init__`` is counted where it is defined). ``self``/``cls`` are not parameters.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ifg", "ylg")
DUNDERS = ("__init__", "__call__")


@dataclass(frozen=True)
class Slot:
    """One parameter or return of a public callable: ``where`` is ``module.qualname``, ``name``
    the parameter's name or ``"return"``; ``file`` the module's path from the repo root."""

    where: str
    name: str
    file: str
    annotated: bool
    variadic: bool = False  # *args or **kwargs

    def __str__(self) -> str:
        return f"{self.where}({self.name})" if self.name != "return" else f"{self.where} -> ?"


def module_names(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Every module under the packages' folders, by dotted name, ``__init__`` as the package."""
    names = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            elif any(p.startswith("_") for p in parts):
                continue
            names.append(".".join(parts))
    return names


def _slots(f: Callable[..., Any], where: str, file: str, *, bound: bool) -> Iterator[Slot]:
    try:
        signature = inspect.signature(f)  # through decorators (torch.no_grad, contextmanager)
    except (TypeError, ValueError):  # a builtin without a signature
        return
    parameters = list(signature.parameters.values())
    if bound and parameters:
        parameters = parameters[1:]  # self / cls
    for p in parameters:
        yield Slot(where, p.name, file, p.annotation is not inspect.Parameter.empty,
                   p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    yield Slot(where, "return", file, signature.return_annotation is not inspect.Signature.empty)


def _class_slots(cls: type, where: str, file: str) -> Iterator[Slot]:
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in DUNDERS:
            continue
        at = f"{where}.{name}"
        if isinstance(member, staticmethod):
            yield from _slots(member.__func__, at, file, bound=False)
        elif isinstance(member, classmethod):
            yield from _slots(member.__func__, at, file, bound=True)
        elif isinstance(member, property) and member.fget is not None:
            yield Slot(at, "return", file,
                       inspect.signature(member.fget).return_annotation
                       is not inspect.Signature.empty)
        elif inspect.isfunction(member):
            yield from _slots(member, at, file, bound=True)


def slots(modules: list[str] | None = None) -> list[Slot]:
    """Every parameter and return of the public callables of ``modules`` (default: all)."""
    found = []
    for module_name in modules if modules is not None else module_names():
        module = importlib.import_module(module_name)
        file = str(Path(inspect.getfile(module)).relative_to(ROOT))
        for name, value in sorted(vars(module).items()):
            if name.startswith("_") or getattr(value, "__module__", None) != module_name:
                continue
            where = f"{module_name}.{name}"
            if inspect.isclass(value):
                found.extend(_class_slots(value, where, file))
            elif inspect.isfunction(value):
                found.extend(_slots(value, where, file, bound=False))
    return found
