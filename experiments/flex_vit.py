"""A small vision transformer with neighbourhood attention, trained on the digits on a CPU.

Two copies of one model (same initial weights, same batches) train side by side, step for step:
one attends with ``ylg.flex_attention`` and a NATTEN-style ``mask_mod``, the other with SDPA and
the same mask as a dense boolean ``(L, L)`` matrix. It prints each model's loss every
``--every`` steps, the largest difference between the two, the test accuracy of both, and the
median time a training step took with each (paired: the two steps of one batch run back to
back). docs/flex-attention.md walks through it.

Usage::

    .venv/bin/python experiments/flex_vit.py [--steps 300] [--side 16] [--radius 2]
        [--batch 64] [--threads 1] [--every 50]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ylg import flex_attention  # noqa: E402
from ylg.data import digits  # noqa: E402

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def neighbourhood(side: int, radius: int):
    """NATTEN's (2 radius + 1)^2 neighbourhood on a side x side grid of row-major tokens (the
    window moved inside the grid at the borders), as a FlexAttention ``mask_mod``."""

    def mask_mod(b, h, q_idx, kv_idx):
        qy, qx, ky, kx = q_idx // side, q_idx % side, kv_idx // side, kv_idx % side
        cy = qy.clamp(radius, side - 1 - radius)
        cx = qx.clamp(radius, side - 1 - radius)
        return ((ky - cy).abs() <= radius) & ((kx - cx).abs() <= radius)

    return mask_mod


def flex_attend(mask_mod) -> Attend:
    """Attention with ``ylg.flex_attention`` (the sparse tile path, forward and backward)."""
    return lambda q, k, v: flex_attention(q, k, v, block_mask=mask_mod)


def sdpa_attend(mask_mod, tokens: int) -> Attend:
    """Attention with SDPA over the mask as a dense boolean (L, L) matrix."""
    i = torch.arange(tokens)
    allowed = mask_mod(0, 0, i.view(-1, 1), i.view(1, -1))  # (L, L)
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


class Block(nn.Module):
    """Pre-norm transformer block: attention over the token grid, then an MLP."""

    def __init__(self, dim: int, heads: int, attend: Attend) -> None:
        super().__init__()
        self.heads, self.attend = heads, attend
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (b, heads, n, c / heads)
        o = self.attend(q, k, v).transpose(1, 2).reshape(b, n, c)  # (b, n, c)
        x = x + self.proj(o)
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Every pixel of a side x side grey image is a token: a linear embedding plus a learned
    position, ``depth`` blocks, the mean token, ten logits."""

    def __init__(self, side: int, attend: Attend, *, dim: int = 32, heads: int = 2,
                 depth: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(1, dim)
        self.position = nn.Parameter(0.02 * torch.randn(side * side, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, attend) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.embed(images.flatten(1).unsqueeze(-1)) + self.position  # (b, n, dim)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(dim=1))  # (b, 10)

    def use(self, attend: Attend) -> TinyViT:
        for block in self.blocks:
            block.attend = attend  # type: ignore[assignment]
        return self


def train(*, steps: int = 300, side: int = 16, radius: int = 2, batch: int = 64,
          every: int = 50, seed: int = 0, log: Callable[[str], None] | None = print) -> dict:
    """Train the flex and the SDPA model side by side; returns their losses, step times and
    test accuracies."""
    torch.manual_seed(seed)
    mask_mod = neighbourhood(side, radius)
    tokens = side * side
    flex = TinyViT(side, flex_attend(mask_mod))
    sdpa = copy.deepcopy(flex).use(sdpa_attend(mask_mod, tokens))
    data = digits(resolution=side, split="train")
    images, labels = data.images.float() / 127.5 - 1, data.labels  # (n, 1, side, side)
    models = {"flex": flex, "sdpa": sdpa}
    optims = {name: torch.optim.Adam(m.parameters(), lr=2e-3) for name, m in models.items()}
    losses: dict[str, list[float]] = {"flex": [], "sdpa": []}
    times: dict[str, list[float]] = {"flex": [], "sdpa": []}
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        pick = torch.randint(len(labels), (batch,), generator=gen)
        for name, model in models.items():
            start = time.perf_counter()
            loss = F.cross_entropy(model(images[pick]), labels[pick])
            optims[name].zero_grad()
            loss.backward()
            optims[name].step()
            times[name].append(time.perf_counter() - start)
            losses[name].append(loss.item())
        if log and (step % every == 0 or step == steps - 1):
            log(f"step {step:4d}  loss flex {losses['flex'][-1]:.6f}  "
                f"sdpa {losses['sdpa'][-1]:.6f}")
    test = digits(resolution=side, split="test")
    x, y = test.images.float() / 127.5 - 1, test.labels
    with torch.no_grad():
        accuracy = {name: float((m(x).argmax(1) == y).float().mean()) for name, m in models.items()}
    diff = max(abs(a - b) for a, b in zip(losses["flex"], losses["sdpa"]))
    result = {"losses": losses, "step_s": {n: statistics.median(t[1:] or t)
                                           for n, t in times.items()},
              "max_loss_difference": diff, "test_accuracy": accuracy}
    if log:
        s = result["step_s"]
        log(f"largest loss difference over {steps} steps: {diff:.2e}")
        log(f"test accuracy: flex {accuracy['flex']:.3f}, sdpa {accuracy['sdpa']:.3f}")
        log(f"median step: flex {1e3 * s['flex']:.1f} ms, sdpa {1e3 * s['sdpa']:.1f} ms "
            f"({s['sdpa'] / s['flex']:.1f}x)")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--side", type=int, default=16)
    ap.add_argument("--radius", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train(steps=args.steps, side=args.side, radius=args.radius, batch=args.batch,
          every=args.every)


if __name__ == "__main__":
    main()
