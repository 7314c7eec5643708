"""experiments/flex_vit.py: the worked example of docs/flex-attention.md, a few steps."""

import torch

from experiments.flex_vit import TinyViT, neighbourhood, sdpa_attend, train


def test_the_flex_and_sdpa_models_train_with_the_same_losses():
    result = train(steps=3, side=8, radius=1, batch=8, log=None)
    assert result["max_loss_difference"] < 1e-5
    assert all(torch.isfinite(torch.tensor(result["losses"]["flex"])))
    assert set(result["step_s"]) == {"flex", "sdpa"}


def test_the_tiny_vit_gives_ten_logits():
    model = TinyViT(8, sdpa_attend(neighbourhood(8, 1), 64))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
