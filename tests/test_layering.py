"""Layers point one way: importing ifg never imports torch."""

import subprocess
import sys


def test_importing_ifg_never_imports_torch():
    code = "import sys, ifg, ifg.check, ifg.maskset; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
