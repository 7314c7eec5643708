"""The ylg package's own namespace: version and the names most users need, imported lazily."""

import subprocess
import sys

import pytest

import ylg


def test_version_matches_ifg_and_the_metadata():
    import ifg

    assert ylg.__version__ == ifg.__version__ and ylg.__version__


@pytest.mark.parametrize("name", ["Attention2d", "Generator", "Discriminator", "TrainConfig",
                                  "load_generator", "DataError", "CheckpointError"])
def test_public_names_are_the_submodules_objects(name):
    import importlib

    obj = getattr(ylg, name)
    assert obj is getattr(importlib.import_module(ylg._HOMES[name]), name)
    assert name in ylg.__all__ and name in dir(ylg)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ylg.nope  # noqa: B018


def test_importing_ylg_does_not_import_torch():
    code = "import sys, ylg; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_all_lists_exactly_the_lazy_names():
    assert set(ylg.__all__) == set(ylg._HOMES) | {"__version__"}
