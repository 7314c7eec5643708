"""Training: config, losses, EMA, data stream, exact resume, atomic checkpoints, DDP."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ifg.errors import InvalidArgument
from ylg.data.augment import diff_augment
from ylg.run.checkpoint import load_checkpoint, save_checkpoint
from ylg.data import digits
from ylg.errors import CheckpointError
from ylg.train import TrainConfig, _Batches, ema_update, hinge_d, hinge_g, train

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(width=8, batch_size=4, attention="dense", log_every=1, sample_every=1000,
            checkpoint_every=1000, diffaugment="color,translation,cutout", device="cpu")


def _quiet(cfg, **kw):
    return train(cfg, progress=False, log=lambda m: None, **kw)


def _log(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    """A finished one-step TINY run, trained once for the tests that read or copy it."""
    out = tmp_path_factory.mktemp("one-step") / "run"
    _quiet(TrainConfig(out=str(out), steps=1, **TINY))
    return out


def _copy(run, tmp_path):
    """A copy of ``run`` in ``tmp_path`` (a run folder is its run wherever it lies)."""
    return Path(shutil.copytree(run, tmp_path / "run"))


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(InvalidArgument, match="unknown TrainConfig key"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    for bad in (dict(steps=0), dict(lr_d=-1.0), dict(beta2=1.0), dict(diffaugment="flip"),
                dict(attention=""), dict(channels=2), dict(attention_resolution=32)):
        with pytest.raises(InvalidArgument):
            TrainConfig(**bad)
    cfg = TrainConfig()
    assert (cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2, cfg.z_dim, cfg.batch_size, cfg.d_steps) == \
        (1e-4, 4e-4, 0.0, 0.999, 128, 64, 1)  # the paper's
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_hinge_losses_vanish_beyond_the_margin():
    assert hinge_d(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -5.0])) == 0
    assert hinge_d(torch.tensor([0.0]), torch.tensor([0.0])) == 2
    assert hinge_g(torch.tensor([2.0, 4.0])) == -3


def test_ema_is_a_moving_average_and_copies_buffers():
    a, b = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        a.weight.fill_(0.0), b.weight.fill_(1.0), b.running_mean.fill_(5.0)
    ema_update(a, b, 0.75)
    torch.testing.assert_close(a.weight, torch.full((3,), 0.25))
    assert torch.equal(a.running_mean, b.running_mean)


def test_each_epoch_visits_every_image_once():
    data = digits(resolution=8)
    batches = _Batches(data, batch_size=100, rank=0, world=1, seed=3, device="cpu")
    seen = torch.cat([batches.draw(k)[0] for k in range(15)])  # 15 x 100 = one epoch of 1,500
    def rows(x):
        return sorted(map(bytes, ((x.reshape(len(x), -1) + 1) * 127.5).round().byte().numpy()))
    assert rows(seen) == sorted(map(bytes, data.images.reshape(1500, -1).numpy()))
    halves = [_Batches(data, batch_size=100, rank=r, world=2, seed=3, device="cpu").draw(4)[0]
              for r in (0, 1)]
    assert torch.equal(torch.cat(halves), batches.draw(4)[0])  # ranks share one global batch


def test_diffaugment_is_differentiable_and_seeded():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(1))
    y.sum().backward()
    assert x.grad.abs().sum() > 0
    again = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(1))
    assert torch.equal(y, again)
    assert torch.equal(diff_augment(x, ""), x)


def test_resumed_run_reproduces_the_uninterrupted_run_exactly(tmp_path):
    straight = _quiet(TrainConfig(out=str(tmp_path / "a"), steps=4, **TINY))
    _quiet(TrainConfig(out=str(tmp_path / "b"), steps=2, **TINY))
    resumed = _quiet(TrainConfig(out=str(tmp_path / "b")), resume=True, overrides={"steps": 4})
    assert [line["step"] for line in _log(tmp_path / "b")] == [1, 2, 3, 4]
    for a, b in zip(_log(tmp_path / "a"), _log(tmp_path / "b")):
        assert {k: a[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")} == \
            {k: b[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")}
    for x, y in ((straight.G, resumed.G), (straight.D, resumed.D), (straight.ema, resumed.ema)):
        for (name, p), q in zip(x.state_dict().items(), y.state_dict().values()):
            assert torch.equal(p, q), name
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4 and ckpt["config"]["steps"] == 4
    assert set(ckpt["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert sorted(p.name for p in (tmp_path / "b" / "samples").iterdir()) == \
        ["step_0000002.png", "step_0000004.png"]


@pytest.fixture
def _python_sigint():
    """Python's own SIGINT handler for the test: a process started in the background by a
    non-interactive shell (as CI may start the tests) inherits SIGINT ignored, where
    ``ylg train`` leaves it alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_keeps_the_step_under_way_in_a_checkpoint_and_resume_continues_it(
        tmp_path, monkeypatch, _python_sigint):
    import ylg.train as training

    step_of = training.train_step

    def interrupted_in_step_2(*args, **kwargs):
        if kwargs["step"] == 2:  # Ctrl-C while the step runs, long before checkpoint_every
            os.kill(os.getpid(), signal.SIGINT)
        return step_of(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", interrupted_in_step_2)
    said = []
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "b"), steps=4, **TINY), progress=False,
              log=said.append)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"] == 2
    assert said[-1].startswith("warning: interrupted (SIGINT): the checkpoint of step 2 is in")
    monkeypatch.setattr(training, "train_step", step_of)
    resumed = _quiet(TrainConfig(out=str(tmp_path / "b")), resume=True)
    straight = _quiet(TrainConfig(out=str(tmp_path / "a"), steps=4, **TINY))
    assert [line["step"] for line in _log(tmp_path / "b")] == [1, 2, 3, 4]
    for (name, p), q in zip(straight.G.state_dict().items(), resumed.G.state_dict().values()):
        assert torch.equal(p, q), name


def test_sigterm_saves_the_step_under_way_then_ends_the_process_as_sigterm_does(tmp_path):
    # what a scheduler (or `kill`) sends at the end of a job: the run keeps its last step
    run = tmp_path / "run"
    code = ("import sys; from ylg.train import TrainConfig, train; "
            f"train(TrainConfig(out=sys.argv[1], steps=10**6, **{TINY!r}), progress=False, "
            "log=lambda m: print(m, flush=True))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not ((run / "log.jsonl").exists() and (run / "log.jsonl").read_text().count("\n")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM
    step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert step >= 1 and [line["step"] for line in _log(run)] == list(range(1, step + 1))
    assert f"interrupted (SIGTERM): the checkpoint of step {step} is in" in out
    resumed = _quiet(TrainConfig(out=str(run)), resume=True, overrides={"steps": step + 1})
    assert resumed.step == step + 1


def test_a_resumed_sparse_ylg_run_reproduces_the_uninterrupted_run_exactly(tmp_path):
    # the sparse core (gathers, tile softmax, thread policy) must be as deterministic as the
    # dense layer; 8 heads need 64 channels at the attention, so width 16 at 32x32
    cfg = {**TINY, "width": 16, "attention": "ylg", "backend": "sparse"}
    straight = _quiet(TrainConfig(out=str(tmp_path / "a"), steps=4, **cfg))
    _quiet(TrainConfig(out=str(tmp_path / "b"), steps=2, **cfg))
    resumed = _quiet(TrainConfig(out=str(tmp_path / "b")), resume=True, overrides={"steps": 4})
    assert resumed.G.attention.backend == "sparse" and resumed.D.attention.backend == "sparse"
    keys = ("loss_d", "loss_g", "d_real", "d_fake")
    assert [{k: line[k] for k in keys} for line in _log(tmp_path / "a")] == \
        [{k: line[k] for k in keys} for line in _log(tmp_path / "b")]
    for x, y in ((straight.G, resumed.G), (straight.D, resumed.D), (straight.ema, resumed.ema)):
        for (name, p), q in zip(x.state_dict().items(), y.state_dict().values()):
            assert torch.equal(p, q), name


def test_an_unknown_attention_is_refused_before_training(tmp_path):
    with pytest.raises(InvalidArgument, match="attention must be one of"):
        _quiet(TrainConfig(out=str(tmp_path), steps=1, **{**TINY, "attention": "sparse"}))


def test_a_mask_file_is_read_once_and_compiled_once_per_network(tmp_path, monkeypatch):
    import ifg.io
    import ylg.attention
    from ifg.maskset import preset

    ifg.io.save(preset("ylg", key_grid=(8, 8), query_grid=(16, 16)), tmp_path / "m.npz")
    reads, compiles = [], []
    load, compile_ = ifg.io.load, ylg.attention.Attention2d._compile
    monkeypatch.setattr(ifg.io, "load", lambda src, **kw: reads.append(src) or load(src, **kw))
    monkeypatch.setattr(ylg.attention.Attention2d, "_compile",
                        lambda self, *a: compiles.append(self) or compile_(self, *a))
    r = _quiet(TrainConfig(out=str(tmp_path / "r"), steps=1,
                           **{**TINY, "width": 16, "attention": str(tmp_path / "m.npz"),
                              "backend": "sparse"}))
    assert len(reads) == 1  # G, D and the EMA share one read of the file
    real = [layer for layer in compiles if layer.gamma.device.type != "meta"]
    assert len(real) == 2  # G's and D's layers; the EMA is a copy of G's
    # the memory estimate's models live on the meta device, with the dense backend: no tiles
    assert all(layer.backend == "dense" for layer in compiles if layer not in real)
    assert r.ema.attention.backend == "sparse" and r.ema.attention.plans is not r.G.attention.plans
    for a, b in zip(r.ema.attention.plans, r.G.attention.plans):
        assert torch.equal(a.query_index, b.query_index)


def test_the_evaluation_hook_sees_each_evaluation_step_after_its_checkpoint(tmp_path):
    seen = []

    def evaluate(step, ema):
        seen.append((step, load_checkpoint(tmp_path / "checkpoint.pt")["step"], ema.training))
        return {"score": float(step)}

    _quiet(TrainConfig(out=str(tmp_path), steps=5, eval_every=2,
                       **{**TINY, "checkpoint_every": 1}), evaluate=evaluate)
    assert seen == [(2, 2, False), (4, 4, False), (5, 5, False)]
    evals = [line for line in _log(tmp_path) if "eval" in line]
    assert [(e["step"], e["eval"]) for e in evals] == [(2, {"score": 2.0}), (4, {"score": 4.0}),
                                                       (5, {"score": 5.0})]


def test_a_cpu_run_says_its_time_and_memory_and_warns_when_long(tmp_path, monkeypatch):
    said = []
    train(TrainConfig(out=str(tmp_path / "a"), steps=5, **TINY), progress=False,
          log=said.append)
    estimates = [m for m in said if m.startswith("estimate on this CPU: 2 steps at")]
    assert len(estimates) == 1 and "peak memory" in estimates[0]
    assert not any("warning" in m for m in said)  # two tiny steps: seconds
    # a fake clock, 10,000 s between readings: the same tiny run looks like hours
    clock = iter(range(0, 10 ** 9, 10_000))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr("ylg.run.folder.plot_training", lambda run_dir: None)  # not under test
    said.clear()
    train(TrainConfig(out=str(tmp_path / "b"), steps=5, long_ok=True,
                      **{**TINY, "batch_size": 32}), progress=False, log=said.append)
    warning = [m for m in said if m.startswith("estimate on this CPU")][0].splitlines()[1]
    assert warning.startswith("warning: this run takes more than an hour on a CPU")
    assert "--batch-size 16" in warning and "--width" not in warning  # width 8 is small
    assert "stops here" not in warning  # long_ok: it goes on


def test_a_cpu_run_of_hours_stops_after_its_estimate_unless_long_ok(tmp_path, monkeypatch):
    from ylg.eta import TooLongOnCPU

    clock = iter(range(0, 10 ** 9, 10_000))  # 10,000 s a step: 2 steps to go are 5.6 h
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr("ylg.run.folder.plot_training", lambda run_dir: None)  # not under test
    said = []
    with pytest.raises(TooLongOnCPU, match=r"stopped after step 3: this run would take [\d.]+ h "
                                           r"on this CPU \(over 3 h\).*--long-ok"):
        train(TrainConfig(out=str(tmp_path / "new"), steps=5, **TINY), progress=False,
              log=said.append)
    assert "over 3 h it stops here unless given --long-ok" in said[-1]
    assert not (tmp_path / "new").exists()  # a new run leaves no folder behind
    # a resumed run keeps its folder and checkpoint, and goes on when asked
    _quiet(TrainConfig(out=str(tmp_path / "r"), steps=1, **TINY))
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    with pytest.raises(TooLongOnCPU):
        _quiet(TrainConfig(out=str(tmp_path / "r")), resume=True, overrides={"steps": 6})
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before
    done = _quiet(TrainConfig(out=str(tmp_path / "r")), resume=True,
                  overrides={"steps": 6, "long_ok": True})
    assert done.step == 6


def test_the_default_model_is_the_papers_ylg():
    assert TrainConfig().attention == "ylg"


def test_resuming_a_run_that_wrote_no_checkpoint_says_to_start_it_again(one_step_run,
                                                                         tmp_path):
    run = _copy(one_step_run, tmp_path)
    (run / "checkpoint.pt").unlink()  # killed before its first checkpoint
    with pytest.raises(CheckpointError, match=r"holds no checkpoint: its run stopped before "
                                              r"writing one; start it again \(without --resume"):
        _quiet(TrainConfig(out=str(run)), resume=True)
    with pytest.raises(CheckpointError, match="does not exist"):  # no run there at all
        _quiet(TrainConfig(out=str(tmp_path / "none")), resume=True)


def test_resume_refuses_to_change_the_model(one_step_run, tmp_path):
    run = _copy(one_step_run, tmp_path)
    with pytest.raises(InvalidArgument, match=r"already holds a checkpoint: resume it \(--resume"):
        _quiet(TrainConfig(out=str(run), steps=1, **TINY))
    with pytest.raises(InvalidArgument, match="cannot change --width"):
        _quiet(TrainConfig(out=str(run)), resume=True, overrides={"width": 16})


def test_corrupt_truncated_and_mismatched_checkpoints_are_one_line_errors(one_step_run,
                                                                          tmp_path):
    run = _copy(one_step_run, tmp_path)
    path = run / "checkpoint.pt"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)
    path.write_bytes(good)
    state = torch.load(path, weights_only=True)
    state["G"].pop(next(iter(state["G"])))
    save_checkpoint(path, state)
    with pytest.raises(CheckpointError, match="G does not match the stored model arguments") as err:
        _quiet(TrainConfig(out=str(run)), resume=True, overrides={"steps": 2})
    assert "\n" not in str(err.value)


def test_a_failed_write_leaves_the_last_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})

    def broken(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2})
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


KILLED_MID_WRITE = """
import os, sys, time
import ylg.runtime as c  # atomic_write, which save_checkpoint uses
real = os.fsync
def slow(fd):  # announce each checkpoint write, and stall in the middle of the second one
    slow.n += 1
    print("writing", slow.n, flush=True)
    if slow.n == 2:
        time.sleep(60)
    real(fd)
slow.n = 0
c.os.fsync = slow
from ylg.train import TrainConfig, train
train(TrainConfig(out=sys.argv[1], steps=100, width=4, batch_size=2, attention="none",
                  checkpoint_every=1, sample_every=1000, device="cpu"),
      progress=False, log=lambda m: None)
"""


@pytest.mark.timeout(300)
def test_kill_9_during_a_checkpoint_write_leaves_the_last_complete_one(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "writing 2":  # fsync of the file itself: step 2 is half-written
                break
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 1
    resumed = _quiet(TrainConfig(out=str(tmp_path)), resume=True, overrides={"steps": 2})
    assert resumed.step == 2
    assert not list(tmp_path.glob(".checkpoint.pt.tmp-*"))


def _ddp_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train(TrainConfig(out=str(out), steps=2, **{**TINY, "batch_size": 8}),
                   progress=False, log=lambda m: None)
    torch.save({"G": result.G.state_dict(), "D": result.D.state_dict(),
                "EMA": result.ema.state_dict(), "last": result.last, "rank": result.rank},
               Path(out) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_ddp_processes_hold_the_same_weights(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # two fresh processes, as with spawn, but forked from a server that imported torch, ylg and
    # what a first training run loads (the digits' sklearn, the plot's matplotlib, the dynamo
    # that the memory check's meta-device models import) once, not once in each process
    import multiprocessing

    multiprocessing.get_context("forkserver").set_forkserver_preload(
        [__name__, "sklearn.datasets", "sklearn.model_selection", "ifg.render", "torch._dynamo"])
    torch.multiprocessing.start_processes(_ddp_worker, args=(2, port, tmp_path), nprocs=2,
                                          start_method="forkserver")
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a["last"] == b["last"]  # the logged losses are averaged over the ranks
    assert (a["rank"], b["rank"]) == (0, 1)  # the CLI prints its last line on rank 0 only
    for key in ("G", "D", "EMA"):
        for (name, p), q in zip(a[key].items(), b[key].values()):
            assert torch.equal(p, q), f"{key}.{name}"
    start = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert start["world_size"] == 2 and start["step"] == 2


def test_checkpoints_record_the_spectral_norm_rule_and_older_ones_keep_theirs(one_step_run):
    from ylg.run.checkpoint import load_checkpoint
    from ylg.models.build import model_kwargs_of, models_from_checkpoint

    state = load_checkpoint(one_step_run / "checkpoint.pt")
    assert state["model"]["sn_constraint"] == "inequality"  # the published W / max(1, sigma)
    older = {**state, "model": {k: v for k, v in state["model"].items() if k != "sn_constraint"}}
    assert model_kwargs_of(older)["sn_constraint"] == "equality"  # trained with W / sigma
    g, _, _ = models_from_checkpoint(older)
    assert {m.constraint for m in g.modules() if hasattr(m, "constraint")} == {"equality"}


def test_an_unknown_spectral_norm_rule_in_a_checkpoint_is_a_one_line_error(one_step_run,
                                                                           tmp_path):
    from ylg.run.checkpoint import load_checkpoint, save_checkpoint
    from ylg.errors import CheckpointError

    state = load_checkpoint(one_step_run / "checkpoint.pt")
    state["model"]["sn_constraint"] = "strict"
    save_checkpoint(tmp_path / "bad.pt", state)
    with pytest.raises(CheckpointError, match="sn_constraint is 'strict'"):
        load_checkpoint(tmp_path / "bad.pt")


def test_the_sample_grid_drawn_in_chunks_is_the_grid_drawn_at_once_up_to_rounding():
    from ylg.models import Generator
    from ylg.train import SAMPLE_CHUNK, draw_samples

    torch.manual_seed(0)
    G = Generator(resolution=32, width=8, num_classes=10, channels=1, attention="dense").eval()
    n = 2 * SAMPLE_CHUNK + 3  # a last chunk that is not full
    z, y = torch.randn(n, G.z_dim), torch.randint(10, (n,))
    with torch.no_grad():
        whole = G(z, y)
    # in eval mode samples are independent; a chunk's size may change the convolutions'
    # blocking, so float rounding (about 1e-7) is all that may differ
    assert torch.allclose(draw_samples(G, z, y), whole, rtol=0, atol=1e-6)
