"""Sizes that cannot fit are refused before anything is allocated or written: one line that says
what the command would need and what the machine has, exit 2 (issue 12, point 4).

The refusals run in a subprocess under a 2 GiB address-space limit, so that a regression (a
command that allocates first) fails the test instead of taking the machine."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from ylg.train import TrainConfig, train

HUGE = str(10**9)

#: (program, arguments, outputs that must not exist afterwards, words of the error)
CASES = {
    "train batch": ("main", ["train", "--batch-size", HUGE, "--steps", "1", "--out", "{tmp}/run1"],
                    ["run1"], ["training at batch 1,000,000,000, 32x32, width 64"]),
    "train width": ("main", ["train", "--width", "100000", "--steps", "1", "--out", "{tmp}/run2"],
                    ["run2"], ["training at batch 64, 32x32, width 100000"]),
    "sample": ("main", ["sample", "--checkpoint", "{ck}", "--n", HUGE, "-o", "{tmp}/g.png"],
               ["g.png"], ["drawing 1,000,000,000 samples at 32x32"]),
    "interpolate": ("main", ["interpolate", "--checkpoint", "{ck}", "--class", "1", "--rows",
                             "100000", "--steps", "100000", "-o", "{tmp}/w.png"],
                    ["w.png"], ["drawing 10,000,000,000 walk images"]),
    "evaluate": ("main", ["evaluate", "--checkpoint", "{ck}", "--samples", HUGE],
                 [], ["generating 1,000,000,000 samples in batches of 50"]),
    "invert starts": ("main", ["invert", "--checkpoint", "{ck}", "--test-index", "0",
                               "--starts", HUGE, "-o", "{tmp}/inv"],
                      ["inv"], ["inverting 1 image(s) x 1 class(es) x 1,000,000,000 starts"]),
    "invert steps": ("main", ["invert", "--checkpoint", "{ck}", "--test-index", "0",
                              "--steps", str(10**12), "--method", "pixel", "-o", "{tmp}/inv2"],
                     ["inv2"], ["for 1,000,000,000,000 steps"]),
    "attention-map": ("main", ["attention-map", "--checkpoint", "{ck}", "--test-index", "0",
                               "--query", "3,3", "--starts", HUGE, "-o", "{tmp}/a.png"],
                      ["a.png"], ["1,000,000,000 starts at once"]),
    "masks export": ("masks", ["export", "--preset", "ylg", "--query-grid", "100000x100000",
                               "-o", "{tmp}/m.npz"], ["m.npz"], ["would need about"]),
    "masks check": ("masks", ["check", "--pattern", "ltr", "--n", HUGE], [],
                    ["would need about"]),
    "masks render": ("masks", ["render", "--pattern", "ltr", "--n", HUGE, "-o", "{tmp}/r.png"],
                     ["r.png"], ["would need about"]),
    "masks extend": ("masks", ["extend", "--pattern", "ltr", "--n", HUGE], [],
                     ["would need about"]),
}

#: every refusal, one after the other in one process limited to this address space
LIMIT = 2 << 30

_RUNNER = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from click.testing import CliRunner
    import ylg_cli.main, ylg_cli.masks
    programs = {{"main": ylg_cli.main.main, "masks": ylg_cli.masks.main}}
    results = {{}}
    for name, (program, args) in json.loads(sys.argv[1]).items():
        r = CliRunner().invoke(programs[program], args)
        results[name] = [r.exit_code, r.stdout, r.stderr]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({{"results": results, "peak": peak}}))
""")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny dense-attention run's checkpoint (G has an attention layer to map)."""
    out = tmp_path_factory.mktemp("sizes") / "run"
    train(TrainConfig(out=str(out), steps=1, width=8, batch_size=4, attention="dense",
                      num_samples=4, device="cpu"), progress=False, log=lambda m: None)
    return out / "checkpoint.pt"


@pytest.fixture(scope="module")
def refusals(checkpoint, tmp_path_factory):
    """Run every case of :data:`CASES` under the address-space limit; their results by name."""
    tmp = tmp_path_factory.mktemp("outputs")
    cases = {name: (program, [a.format(tmp=tmp, ck=checkpoint) for a in args])
             for name, (program, args, _, _) in CASES.items()}
    env = {k: v for k, v in os.environ.items() if k != "YLG_MAX_MEMORY"}
    out = subprocess.run([sys.executable, "-c", _RUNNER.format(limit=LIMIT), json.dumps(cases)],
                         capture_output=True, text=True, timeout=600,
                         env={**env, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1]), tmp


@pytest.mark.parametrize("name", CASES)
def test_a_size_that_cannot_fit_is_one_line_before_anything_is_written(refusals, name):
    found, tmp = refusals
    code, stdout, stderr = found["results"][name]
    assert code == 2, stderr
    assert stdout == "" and stderr.count("\n") == 1 and stderr.startswith("Error: "), stderr
    for words in CASES[name][3]:
        assert words in stderr
    if CASES[name][0] == "main":  # the ylg commands say the estimate and the machine's memory
        assert "needs about" in stderr and "this machine has" in stderr
        assert "(YLG_MAX_MEMORY raises the limit)" in stderr
    for output in CASES[name][2]:
        assert not (tmp / output).exists(), output  # no run folder, grid, figure or mask file


def test_the_refusals_together_cost_well_under_a_gigabyte(refusals):
    found, _ = refusals
    assert found["peak"] < 1 << 30


def test_a_large_but_feasible_sample_runs_in_batches(checkpoint, monkeypatch):
    import ylg.sample
    from ylg.sample import load_generator, sample

    G, _ = load_generator(checkpoint)
    monkeypatch.setattr(ylg.sample, "BATCH", 4)
    sizes, forward = [], G.forward

    def counted(z, y):
        if not z.is_meta:  # the estimate's runs on the meta device apart
            sizes.append(len(z))
        return forward(z, y)

    monkeypatch.setattr(G, "forward", counted)
    x = sample(G, classes=[0, 1, 2], n=10, seed=3)
    assert sizes == [4, 4, 2]
    monkeypatch.setattr(ylg.sample, "BATCH", 64)
    assert torch.allclose(x, sample(G, classes=[0, 1, 2], n=10, seed=3), atol=1e-5)
    assert sizes[-1] == 10  # at once this time


def test_the_limit_follows_ylg_max_memory(checkpoint, monkeypatch, tmp_path):
    from ylg.sample import load_generator, sample

    G, _ = load_generator(checkpoint)
    monkeypatch.setenv("YLG_MAX_MEMORY", "1M")
    with pytest.raises(Exception, match=r"drawing 64 samples .* the limit is 1.0 MiB "
                                        r"\(YLG_MAX_MEMORY\)"):
        sample(G, classes=[0], n=64)
    with pytest.raises(Exception, match="training at batch 4"):
        train(TrainConfig(out=str(tmp_path / "run"), steps=1, width=8, batch_size=4,
                          attention="none", device="cpu"), progress=False, log=lambda m: None)
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("YLG_MAX_MEMORY", "1T")  # raised: the same calls go through
    assert sample(G, classes=[0], n=64).shape[0] == 64
