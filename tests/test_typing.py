"""The public API of ifg and ylg is annotated: every parameter and every return of every public
function, class constructor and public method (tests/public_api.py says which those are)."""

from pathlib import Path

from . import public_api
from .public_api import ROOT, Slot, module_names, slots

# *args / **kwargs that need no annotation: none; each is annotated (`*args: Any` at worst).
VARIADIC_EXEMPT: list[str] = []


def _missing(found: list[Slot]) -> list[str]:
    return [f"{s.file}: {s}" for s in found if not s.annotated
            and not (s.variadic and s.where in VARIADIC_EXEMPT)]


def test_every_public_parameter_and_return_is_annotated():
    missing = _missing(slots())
    assert not missing, f"{len(missing)} without an annotation:\n" + "\n".join(missing)


def test_the_walk_sees_the_public_api():
    found = slots()
    where = {s.where for s in found}
    # a function, a constructor, a method, a property, a torch module's forward
    for name in ["ifg.spec.pattern", "ifg.check.check", "ifg.maskset.MaskSet.__init__",
                 "ifg.pattern.Pattern.n", "ylg.models.sagan.Generator.forward",
                 "ylg.metrics.distances.fid", "ylg.sample.load_generator",
                 # the last files annotated: no file of the packages is left out
                 "ylg.attention.layer.Attention2d.__init__", "ylg.attention.layer.Attention2d.forward",
                 "ylg.attention.flex.flex_attend", "ylg.config.TrainConfig.from_dict",
                 "ylg.models.layers.UpBlock.forward", "ylg.train.train"]:
        assert name in where, name
    assert all(not part.startswith("_") for s in found for part in s.where.split(".")
               if part not in ("__init__", "__call__"))
    files = {str(p.relative_to(ROOT)) for package in ("ifg", "ylg")
             for p in (ROOT / package).rglob("*.py")}
    assert {s.file for s in found} <= files
    assert len(module_names()) == len([f for f in files if not Path(f).name.startswith("_")
                                       or Path(f).name == "__init__.py"])


def test_the_walk_reports_what_lacks_an_annotation(tmp_path, monkeypatch):
    source = ("class Box:\n"
              "    def __init__(self, size: int, colour) -> None: ...\n"
              "    def open(self, *args) -> bool: ...\n"
              "    def _private(self, x): ...\n"
              "def scale(x: float, factor: float = 2.0): ...\n"
              "def _helper(x): ...\n")
    (tmp_path / "typing_probe_module.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(public_api, "ROOT", tmp_path)
    missing = sorted(str(s) for s in slots(["typing_probe_module"]) if not s.annotated)
    assert missing == ["typing_probe_module.Box.__init__(colour)",
                       "typing_probe_module.Box.open(args)",
                       "typing_probe_module.scale -> ?"]
