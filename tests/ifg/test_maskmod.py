"""ifg.maskmod: a mask_mod found by name, a dense array as a pattern; every bad input is one
InvalidArgument; ifg never imports torch (evaluating a mask_mod is ylg's: see
tests/ylg/attention/test_flexmasks.py)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ifg
from ifg.maskmod import from_array, load_mask_mod

MODS = textwrap.dedent("""
    def natten_3x3(b, h, q_idx, kv_idx):
        return q_idx == kv_idx

    def broken_import_is_fine_until_called(b, h, q_idx, kv_idx):
        return undefined_name
""")


@pytest.fixture
def mods(tmp_path):
    path = tmp_path / "my_masks.py"
    path.write_text(MODS)
    return path


def test_a_mask_mod_is_found_in_a_file_or_a_module(mods, monkeypatch):
    assert load_mask_mod(f"{mods}:natten_3x3").__name__ == "natten_3x3"
    monkeypatch.syspath_prepend(str(mods.parent))
    assert load_mask_mod("my_masks:natten_3x3").__name__ == "natten_3x3"


@pytest.mark.parametrize("ref,message", [
    ("{mods}:natten_3x4", "did you mean natten_3x3"),
    ("{dir}/nothing.py:f", "does not exist"),
    ("no_such_module_xyz:f", "cannot be found"),
    ("natten_3x3", "FILE.py:FUNCTION"),
    ("{dir}/raising.py:f", "raised ZeroDivisionError"),
])
def test_bad_references_are_one_line_errors(mods, ref, message):
    (mods.parent / "raising.py").write_text("x = 1 / 0\n")
    with pytest.raises(ifg.InvalidArgument, match=message) as err:
        load_mask_mod(ref.format(mods=mods, dir=mods.parent))
    assert "\n" not in str(err.value)


def test_from_array_takes_numpy_and_anything_with_detach():
    m = np.eye(6, dtype=bool)
    assert from_array(m, (2, 3)).edges == [6]

    class Tensorish:  # what from_array reads of a torch tensor, without torch
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.stack([m, ~m])

    assert from_array(Tensorish(), (2, 3)).edges == [6, 30]
    with pytest.raises(ifg.InvalidArgument, match="boolean"):
        from_array(m.astype(int), (2, 3))
    with pytest.raises(ifg.InvalidArgument, match="shape"):
        from_array(m, (3, 3))


def test_ifg_never_imports_torch_even_for_a_mask_mod(mods):
    code = ("import sys, ifg, ifg.maskmod, ifg.depth, ifg.blocks, ifg.spec, ifg.families; "
            f"ifg.maskmod.load_mask_mod({str(mods)!r} + ':natten_3x3'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
