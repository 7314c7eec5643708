"""PSNR and SSIM: known values, the laws of a similarity, and an independent SSIM reference."""

import math

import numpy as np
import pytest
import scipy.ndimage
import torch

from ifg.errors import InvalidArgument
from ylg.invert.similarity import psnr, ssim, to_unit_range


def _images(seed, shape=(3, 2, 20, 24)):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_psnr_of_known_noise():
    x = _images(0) * 0.8 + 0.1
    sign = torch.where(_images(1) > 0.5, 1.0, -1.0)
    # noise of +-0.05 everywhere: MSE 0.0025, PSNR 10 log10(400) = 26.02 dB
    assert psnr(x, x + 0.05 * sign).tolist() == pytest.approx([10 * math.log10(400)] * 3)
    assert psnr(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)).item() == 0.0
    assert psnr(x, x).isinf().all()


def test_psnr_falls_as_noise_grows():
    x = _images(2) * 0.5 + 0.25
    noise = _images(3) - 0.5
    values = [psnr(x, x + s * noise).mean().item() for s in (0.05, 0.1, 0.2, 0.4)]
    assert values == sorted(values, reverse=True)
    assert values[0] - values[1] == pytest.approx(20 * math.log10(2))  # halving noise: +6.02 dB


def test_ssim_of_an_image_with_itself_is_one_and_ssim_is_symmetric():
    x, y = _images(4), _images(5)
    assert ssim(x, x).tolist() == [1.0, 1.0, 1.0]
    assert torch.allclose(ssim(x, y), ssim(y, x))
    assert (ssim(x, y) < 1).all() and (ssim(x, y) >= -1).all()


def test_ssim_falls_as_noise_grows():
    x = torch.nn.functional.avg_pool2d(_images(6, (2, 1, 40, 40)), 3, 1, 1)  # some structure
    noise = _images(7, (2, 1, 40, 40)) - 0.5
    values = [ssim(x, (x + s * noise)).mean().item() for s in (0.02, 0.1, 0.3, 0.8)]
    assert values == sorted(values, reverse=True)
    assert values[0] > 0.9 and values[-1] < 0.5


def _ssim_reference(x, y):
    """Wang et al.'s SSIM with scipy: a 2-D Gaussian window, 'valid' positions, one channel."""
    t = np.arange(11) - 5.0
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def filt(a):
        full = scipy.ndimage.correlate(a, w, mode="constant")
        return full[5:-5, 5:-5]  # keep the positions where the window lies inside the image

    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return m.mean()


def test_ssim_matches_an_independent_reference():
    x = _images(8, (1, 2, 23, 17)).double()
    y = (x + 0.2 * (_images(9, (1, 2, 23, 17)).double() - 0.5)).clamp(0, 1)
    expected = np.mean([_ssim_reference(x[0, c].numpy(), y[0, c].numpy()) for c in range(2)])
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-10)


def test_bad_shapes_are_refused():
    with pytest.raises(InvalidArgument, match="one shape"):
        psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(InvalidArgument, match="at least 11x11"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_unit_range_maps_the_models_range():
    assert to_unit_range(torch.tensor([-1.0, 1.0, 0.5])).tolist() == [0.0, 1.0, 0.75]
