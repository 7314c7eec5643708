"""ylg.attention.flexmasks as ifg patterns: a FlexAttention mask_mod and a BlockMask give the
masks they define, evaluated in chunks, through torch.vmap when they do not broadcast; every
bad input is one InvalidArgument."""

import textwrap

import numpy as np
import pytest

import ifg
from ifg.maskmod import load_mask_mod
from ylg.attention import flexmasks
from ylg.attention.flexmasks import from_block_mask, from_mask_mod

torch = pytest.importorskip("torch")

MODS = textwrap.dedent("""
    import torch

    W = 12

    def natten_3x3(b, h, q_idx, kv_idx):
        qr, qc, kr, kc = q_idx // W, q_idx % W, kv_idx // W, kv_idx % W
        rows = (qr - 1).clamp(0, 8 - 3)   # the grid is 8 x 12
        cols = (qc - 1).clamp(0, W - 3)
        return (kr >= rows) & (kr < rows + 3) & (kc >= cols) & (kc < cols + 3)

    def windows_4(b, h, q_idx, kv_idx):
        return (q_idx // W // 4 == kv_idx // W // 4) & (q_idx % W // 4 == kv_idx % W // 4)

    def per_head(b, h, q_idx, kv_idx):
        return (q_idx - kv_idx).abs() <= h

    def raises(b, h, q_idx, kv_idx):
        raise ValueError("no mask here")

    def integers(b, h, q_idx, kv_idx):
        return q_idx - kv_idx

    def wrong_shape(b, h, q_idx, kv_idx):
        return torch.ones(3, 3, dtype=torch.bool)
""")


@pytest.fixture
def mods(tmp_path):
    path = tmp_path / "ylg_test_mods.py"
    path.write_text(MODS)
    return path


def test_a_mask_mod_is_its_family(mods):
    p = from_mask_mod([load_mask_mod(f"{mods}:natten_3x3"), load_mask_mod(f"{mods}:windows_4")],
                      (8, 12))
    want = [ifg.pattern("neighborhood:kernel=3", grid=(8, 12)).steps[0],
            ifg.pattern("swin:window=4", grid=(8, 12)).steps[0]]
    assert p.num_steps == 2 and all((a != b).nnz == 0 for a, b in zip(p.steps, want))


def test_blocks_of_queries_change_nothing(mods, monkeypatch):
    fn = load_mask_mod(f"{mods}:natten_3x3")
    whole = from_mask_mod(fn, (8, 12))
    monkeypatch.setattr(flexmasks, "CHUNK", 100)  # one query a chunk, and a partial last one
    assert (from_mask_mod(fn, (8, 12)).steps[0] != whole.steps[0]).nnz == 0


def test_module_form_and_head(mods, monkeypatch):
    monkeypatch.syspath_prepend(str(mods.parent))
    fn = load_mask_mod("ylg_test_mods:per_head")
    assert from_mask_mod(fn, (2, 4), head=0).edges == [8]
    assert from_mask_mod(fn, (2, 4), head=1).edges == [8 + 14]


@pytest.mark.parametrize("ref,message", [
    ("{mods}:raises", "raised ValueError: no mask here"),
    ("{mods}:integers", "must return a boolean tensor"),
    ("{mods}:wrong_shape", "shape"),
    ("{mods}:natten_3x4", "did you mean natten_3x3"),
    ("{dir}/nothing.py:f", "does not exist"),
    ("no_such_module_xyz:f", "cannot be found"),
    ("natten_3x3", "FILE.py:FUNCTION"),
])
def test_bad_mask_mods_are_one_line_errors(mods, ref, message):
    with pytest.raises(ifg.InvalidArgument, match=message) as err:
        from_mask_mod(load_mask_mod(ref.format(mods=mods, dir=mods.parent)), (8, 12))
    assert "\n" not in str(err.value)


def test_a_block_mask_is_what_flex_attention_computes():
    from torch.nn.attention.flex_attention import create_block_mask

    def near(b, h, q, kv):  # full blocks along the diagonal, partial ones beside
        return (q // 8 - kv // 8).abs() <= 1

    bm = create_block_mask(near, None, None, 64, 64, device="cpu", BLOCK_SIZE=16)
    p = from_block_mask(bm, (8, 8))
    q = np.arange(64)
    want = np.abs(q[:, None] // 8 - q[None, :] // 8) <= 1
    assert np.array_equal(p.steps[0].toarray(), want)
    with pytest.raises(ifg.InvalidArgument, match="positions"):
        from_block_mask(bm, (4, 4))



def test_a_function_written_for_scalar_indices_goes_through_vmap():
    def scalar_if(b, h, q, kv):  # a Python-level branch: fails on broadcasting tensors
        return torch.where(q < 8, kv < 8, kv >= 8) if q.dim() == 0 else q.item()

    def written_out(b, h, q, kv):
        return torch.where(q < 8, kv < 8, kv >= 8)

    assert (from_mask_mod(scalar_if, (4, 4)).steps[0]
            != from_mask_mod(written_out, (4, 4)).steps[0]).nnz == 0


def test_a_mask_that_would_not_fit_is_refused_before_it_is_built(monkeypatch):
    monkeypatch.setattr(flexmasks, "check_fits", _refuse_over(100_000))
    monkeypatch.setattr(flexmasks, "CHUNK", 64 * 1024)  # 16 chunks of 64 queries
    calls = []

    def everything(b, h, q, kv):
        calls.append(1)
        return (q >= 0) & (kv >= 0)

    with pytest.raises(ifg.InvalidArgument, match="would not fit"):
        from_mask_mod(everything, (32, 32))
    assert len(calls) == 1  # refused on the projection from the first chunk
    assert from_mask_mod(lambda b, h, q, kv: q == kv, (32, 32)).edges == [1024]


def _refuse_over(limit):
    def check(what, nbytes):
        if nbytes > limit:
            raise ifg.InvalidArgument(f"{what} would not fit")
    return check
