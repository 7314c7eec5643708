"""Latents for generation: the published truncated normal by default, the plain normal on request."""

import pytest
import torch

from ifg.errors import InvalidArgument
from ylg.models import Generator
from ylg.sample import latents, latent_walk, sample


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_truncated_latents_stay_within_the_bound_and_look_normal_inside_it():
    z = latents(20_000, 16, generator=_gen())
    assert z.shape == (20_000, 16) and z.abs().max() <= 2.0
    # a standard normal truncated at +-2 has standard deviation 0.880
    assert abs(z.std().item() - 0.880) < 0.01 and abs(z.mean().item()) < 0.01


def test_plain_normal_on_request_is_torch_randn():
    assert torch.equal(latents(5, 4, generator=_gen(3), truncation=None),
                       torch.randn(5, 4, generator=_gen(3)))
    assert latents(10_000, 4, generator=_gen(), truncation=None).abs().max() > 2.0


def test_sample_and_latent_walk_draw_the_truncated_latents_by_default():
    G = Generator(resolution=32, width=4, num_classes=3, channels=1, attention="none").eval()
    with torch.no_grad():
        expected = G(latents(3, G.z_dim, generator=_gen(7)), torch.tensor([0, 1, 2]))
        plain = G(latents(3, G.z_dim, generator=_gen(7), truncation=None), torch.tensor([0, 1, 2]))
    assert torch.equal(sample(G, classes=[0, 1, 2], n=3, seed=7), expected)
    assert torch.equal(sample(G, classes=[0, 1, 2], n=3, seed=7, truncation=None), plain)
    walk = latent_walk(G, label=1, rows=2, steps=2, seed=7)
    with torch.no_grad():
        ends = latents(4, G.z_dim, generator=_gen(7))  # a0, a1, b0, b1
        first = G(ends[[0, 2]], torch.tensor([1, 1]))
    assert torch.allclose(walk[:2], first, atol=1e-5)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_a_truncation_that_is_not_positive_is_refused(bad):
    with pytest.raises(InvalidArgument, match="truncation"):
        latents(2, 2, generator=_gen(), truncation=bad)
