"""What a fresh command imports: ``--help`` and ``ylg-masks`` no torch, and the heavy modules
only where they are used (docs/benchmarks.md, "Start-up of the commands")."""

import json
import subprocess
import sys

#: modules that cost a command 0.1 s to 2 s when imported for nothing
HEAVY = ("torch", "torch._dynamo", "sympy", "sklearn", "matplotlib", "networkx", "PIL",
         "torch.nn.attention.flex_attention")

#: runs in a fresh process: each command, then the heavy modules it added
_COMMANDS = """
import contextlib, io, json, sys
from ylg_cli.main import main as ylg
from ylg_cli.masks import main as masks
HEAVY = {heavy!r}
found = {{}}
def loaded():
    return {{m for m in HEAVY if m in sys.modules}}
found["import"] = sorted(loaded())
runs = [("ylg", ylg, ["--help"]), ("ylg", ylg, ["--version"]),
        ("ylg-masks", masks, ["--help"])]
runs += [("ylg", ylg, [name, "--help"]) for name in ylg.commands]
runs += [("ylg-masks", masks, [name, "--help"]) for name in masks.commands]
runs += [("ylg-masks", masks, ["check", "--pattern", "ltr", "--n", "64"]),
         ("ylg-masks", masks, ["list"])]
for prog, group, args in runs:
    before = loaded()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = group(args, prog_name=prog, standalone_mode=False)
    except SystemExit as exit:  # ylg-masks check exits with its verdict
        code = exit.code
    assert code in (None, 0), (prog, args, code)
    found[" ".join([prog, *args])] = sorted(loaded() - before)
print(json.dumps(found))
"""


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_and_ylg_masks_import_no_torch_nor_other_heavy_modules():
    found = _run(_COMMANDS.format(heavy=HEAVY))
    assert len(found) > 20  # every command's --help ran
    assert {command: mods for command, mods in found.items() if mods} == {}


def test_a_model_on_cpu_imports_neither_dynamo_nor_flex_attention():
    # torch's own Python meta kernels (the memory estimates on the meta device) and optimisers
    # import torch._dynamo and sympy whatever this project does; building and running a model
    # on the CPU must not, nor FlexAttention outside backend flex
    code = (
        "import json, sys, torch\n"
        "from ylg.models import Discriminator, Generator\n"
        "for backend in ('dense', 'sparse'):\n"
        "    G = Generator(resolution=32, width=16, channels=1, attention='ylg', backend=backend)\n"
        "    D = Discriminator(resolution=32, width=16, channels=1, attention='ylg', "
        "backend=backend)\n"
        "    with torch.no_grad():\n"
        "        D(G(torch.zeros(2, 128), torch.zeros(2, dtype=torch.long)), "
        "torch.zeros(2, dtype=torch.long))\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    assert _run(code) == ["torch"]
