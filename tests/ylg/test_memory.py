"""ylg.memory: the limit (machine, cgroup, YLG_MAX_MEMORY, a GPU) and the estimator's laws."""

import types

import pytest
import torch

import ylg.memory
from ifg.errors import InvalidArgument
from ylg.checkpoint import build_models
from ylg.memory import (activation_bytes, check_memory, estimate_bytes, image_bytes,
                        memory_limit, output_bytes)

TINY = dict(resolution=32, width=8, num_classes=10, channels=1, z_dim=16, attention="dense")


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
        with torch.device("meta"):
            g, d, _ = build_models({**TINY, **kw}, device="meta")
        return g, d

    small, wide, large = models(), models(width=16), models(resolution=64)
    a = activation_bytes(*small)
    assert 0 < a < activation_bytes(*wide) and a < activation_bytes(*large)
    assert activation_bytes(small[0]) < a  # G alone keeps less than G and D
    assert output_bytes(small[0]) == 4 * 32 * 32
    huge = models(width=4096)  # about 100 GB of weights, on the meta device: nothing allocated
    assert estimate_bytes(*huge, batch=1, training=True) > 100e9


def test_the_estimate_counts_the_batch_the_training_copies_and_the_outputs():
    with torch.device("meta"):
        g, d, _ = build_models(TINY, device="meta")
    params = 4 * sum(p.numel() for m in (g, d) for p in m.parameters())
    one, two = (estimate_bytes(g, d, batch=b) for b in (1, 2))
    assert one - params == two - one == activation_bytes(g, d)  # linear in the batch
    trained = estimate_bytes(g, d, batch=1, training=True)
    assert trained > 4 * params and trained - estimate_bytes(g, d, batch=0, training=True) \
        == 2 * activation_bytes(g, d)
    assert estimate_bytes(g, d, batch=1, outputs=123) == one + 123
    assert image_bytes(2, 3, 32) == 2 * 3 * 32 * 32 * 4


def test_a_model_the_meta_device_cannot_run_counts_no_activations():
    class Opaque(torch.nn.Module):
        z_dim = 4

        def forward(self, z, y):
            return torch.from_numpy(z.numpy())  # needs real data

    assert activation_bytes(Opaque()) == 0 and output_bytes(Opaque()) == 0
