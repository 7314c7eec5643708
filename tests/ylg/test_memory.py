"""ylg.memory: the limit (machine, cgroup, YLG_MAX_MEMORY, a GPU) and the estimator's laws."""

import types

import pytest
import torch

import ylg.memory
import ylg.train
from ifg.errors import InvalidArgument
from ylg.models.build import build_models
from ylg.config import TrainConfig
from ylg.data import ImageData
from ylg.memory import (activation_bytes, check_memory, estimate_bytes, forward_bytes,
                        image_bytes, memory_limit, output_bytes, step_bytes)

TINY = dict(resolution=32, width=8, num_classes=10, channels=1, z_dim=16, attention="dense")


def _models(**kw):
    with torch.device("meta"):
        return build_models({**TINY, **kw}, device="meta")


def _bytes(model, what):
    return sum(t.numel() * t.element_size() for t in getattr(model, what)())


@pytest.mark.parametrize("text, expected", [("1000", 1000), ("64G", 64 * 2**30), ("1.5k", 1536),
                                            ("2e9", 2 * 10**9), (" 3M ", 3 * 2**20)])
def test_ylg_max_memory_replaces_the_limit(monkeypatch, text, expected):
    monkeypatch.setenv("YLG_MAX_MEMORY", text)
    assert memory_limit() == expected


@pytest.mark.parametrize("text", ["abc", "-5", "0", "nan", "inf", "12X"])
def test_a_bad_ylg_max_memory_is_one_error_naming_it(monkeypatch, text):
    monkeypatch.setenv("YLG_MAX_MEMORY", text)
    with pytest.raises(InvalidArgument, match="YLG_MAX_MEMORY must be a size in bytes"):
        memory_limit()


def test_the_limit_is_the_cgroups_when_smaller(monkeypatch, tmp_path):
    monkeypatch.delenv("YLG_MAX_MEMORY", raising=False)
    (tmp_path / "v2").write_text("max\n")  # no limit: the machine's memory stands
    (tmp_path / "v1").write_text(f"{3 * 2**30}\n")
    monkeypatch.setattr(ylg.memory, "_CGROUP_LIMITS", (str(tmp_path / "v2"),))
    machine = memory_limit()
    assert machine > 0
    monkeypatch.setattr(ylg.memory, "_CGROUP_LIMITS", (str(tmp_path / "v2"),
                                                       str(tmp_path / "v1")))
    assert memory_limit() == min(machine, 3 * 2**30)


def test_a_cuda_device_is_held_to_its_own_memory(monkeypatch):
    monkeypatch.delenv("YLG_MAX_MEMORY", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: types.SimpleNamespace(total_memory=80 * 2**30))
    assert memory_limit("cuda:0") == 80 * 2**30
    with pytest.raises(InvalidArgument, match=r"needs about 100.0 GiB of memory, cuda:0 has "
                                              r"80.0 GiB \(YLG_MAX_MEMORY raises the limit\)"):
        check_memory("a run", 100 * 2**30, torch.device("cuda", 0))
    check_memory("a run", 60 * 2**30, "cuda:0")


def test_activations_grow_with_width_and_resolution_and_cost_nothing_to_count():
    def models(**kw):
        return _models(**kw)[:2]

    small, wide, large = models(), models(width=16), models(resolution=64)
    a = activation_bytes(*small)
    assert 0 < a < activation_bytes(*wide) and a < activation_bytes(*large)
    assert activation_bytes(small[0]) < a  # G alone keeps less than G and D
    assert output_bytes(small[0]) == 4 * 32 * 32
    huge = models(width=4096)  # about 100 GB of weights, on the meta device: nothing allocated
    assert estimate_bytes(*huge, batch=1, training=True) > 100e9


def test_the_estimate_counts_the_weights_the_buffers_the_batch_and_the_outputs():
    g, d, _ = _models()
    kept = sum(_bytes(m, w) for m in (g, d) for w in ("parameters", "buffers"))
    one, two = (estimate_bytes(g, d, batch=b) for b in (1, 2))
    assert one - kept == two - one == activation_bytes(g, d)  # linear in the batch
    assert estimate_bytes(g, d, batch=1, outputs=123) == one + 123
    assert estimate_bytes(g, batch=1, training=False) < one  # G alone
    assert image_bytes(2, 3, 32) == 2 * 3 * 32 * 32 * 4
    with pytest.raises(InvalidArgument, match="training estimate needs D"):
        estimate_bytes(g, batch=1, training=True)


def test_a_training_estimate_counts_four_copies_of_the_weights_and_the_step_twice():
    g, d, _ = _models()
    weights = _bytes(g, "parameters") + _bytes(d, "parameters")
    buffers = 2 * _bytes(g, "buffers") + _bytes(d, "buffers")  # the EMA's too
    g_weights = _bytes(g, "parameters")
    # G, its EMA, D and Adam's two moments; then the step (the gradients included)
    kept = weights + g_weights + 2 * weights + buffers
    for batch in (1, 4):
        step = step_bytes(g, d, batch)
        # the allocator keeps a step's freed memory: all but the gradients count twice
        assert estimate_bytes(g, d, batch=batch, training=True, outputs=7) == \
            kept + weights + 2 * (step - weights) + 7


def test_a_step_holds_the_gradients_and_the_normalised_weights_whatever_its_batch():
    g, d, _ = _models()
    grads = _bytes(g, "parameters") + _bytes(d, "parameters")
    one, two, four = (step_bytes(g, d, b) for b in (1, 2, 4))
    assert four - two == 2 * (two - one) > 0  # linear in the batch
    # what a step holds at batch 0: the gradients and more (each forward's spectral-normalised
    # weights, the backward's temporaries), which a difference of batches cancels
    assert 2 * one - two > grads
    assert (two - one) < 2 * activation_bytes(g, d)  # the D and G updates do not overlap


class _Wide(torch.nn.Module):
    """z -> 1000 features -> relu -> 10: 8000 bytes a sample alive at once (two 1000s)."""

    z_dim = 4

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(4, 1000), torch.nn.Linear(1000, 10)

    def forward(self, z, y):
        h = self.a(z)
        h = h.relu()  # made while the first is alive; the first is released after
        return self.b(h.view(len(z), 10, 100).flatten(1))  # views share their storage


def test_a_draw_counts_the_tensors_alive_at_once_not_their_sum():
    wide = _Wide()
    assert [forward_bytes(wide, n) for n in (0, 1, 3)] == [0, 8000, 24000]
    g = _models()[2]  # the EMA
    one, two, many = (forward_bytes(g, n) for n in (1, 2, 64))
    assert 0 < one < two < many < 64 * activation_bytes(g)  # no gradients: less is kept
    with torch.device("meta"):
        huge = build_models({**TINY, "width": 4096}, device="meta")[2]
    assert forward_bytes(huge, 64) > 64 * forward_bytes(g, 1)  # nothing allocated


def _checked(monkeypatch, device="cpu", **cfg):
    """The bytes ylg train's check asks for (the tiny models, 100 digits)."""
    seen = []
    monkeypatch.setattr(ylg.train, "check_memory", lambda what, n, dev: seen.append(n))
    config = TrainConfig(out="unused", resolution=32, width=8, batch_size=4,
                         attention="dense", **cfg)
    data = ImageData(torch.zeros(100, 1, 32, 32, dtype=torch.uint8),
                     torch.zeros(100, dtype=torch.long), tuple("0123456789"), "test")
    ylg.train._check_fits(config, {**TINY, "z_dim": config.z_dim}, 1, torch.device(device),
                          data)
    return seen[0]


def test_ylg_train_counts_the_sample_grids_draw_the_cpu_run_and_the_data_on_a_gpu(monkeypatch):
    base, ema = _checked(monkeypatch, num_samples=8), _models(z_dim=TrainConfig().z_dim)[2]
    # the EMA draws the grid SAMPLE_CHUNK latents at a time, on top of the step's kept memory,
    # keeping the chunks' images until they are joined; the PNG
    chunk = ylg.train.SAMPLE_CHUNK
    assert 8 < chunk < 64
    assert _checked(monkeypatch, num_samples=64) - base == \
        forward_bytes(ema, chunk) - forward_bytes(ema, 8) + \
        image_bytes(64, 1, 32) - image_bytes(8, 1, 32) + \
        image_bytes(64, 1, 32, grid_scale=2) - image_bytes(8, 1, 32, grid_scale=2)
    # on a GPU: the images and labels copied there, and not the CPU run's fixed cost
    gpu = _checked(monkeypatch, "cuda", num_samples=8)
    assert gpu - base == 100 * 32 * 32 + 100 * 8 - ylg.train._CPU_RUN_BYTES


def test_a_model_the_meta_device_cannot_run_counts_no_activations():
    class Opaque(torch.nn.Module):
        z_dim = 4

        def forward(self, z, y):
            return torch.from_numpy(z.numpy())  # needs real data

    assert activation_bytes(Opaque()) == 0 and output_bytes(Opaque()) == 0
    assert forward_bytes(Opaque(), 8) == 0
    d = _models()[1]
    grads = _bytes(Opaque(), "parameters") + _bytes(d, "parameters")
    assert step_bytes(Opaque(), d, 8) == grads  # their gradients only
