"""The tasks ``ylg compare`` trains its probes on, and their registry.

A task draws training batches from a ``torch.Generator`` (so that every mask set sees the same data
in the same order for one seed), embeds its inputs, scores a trained probe on held-out data, and
says whether a higher score is better. :func:`register_task` adds one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ifg.errors import InvalidArgument, check_known, check_positive_int
from ylg.compare.probe import gather_rows

if TYPE_CHECKING:
    from ylg.compare.items import Probe
    from ylg.data import ImageData

__all__ = ["Task", "FlowTask", "ImagesTask", "TASKS", "register_task", "make_task",
           "task_options"]


class Task:
    """What a task provides (subclass it and :func:`register_task` the class).

    Attributes
    ----------
    name : str
    grid : tuple (h, w)
        The token grid the probe's masks live on.
    out_features : int
        Outputs per token.
    higher_is_better : bool
    unit : str
        What the score measures, for tables.
    bounds : tuple (low, high)
        The range of the score (an accuracy's [0, 1], an MSE's [0, inf)): intervals are drawn
        inside it.
    """

    name = "task"
    grid: tuple[int, int] = (8, 8)
    out_features = 1
    higher_is_better = True
    unit = "score"
    bounds: tuple[float, float] = (-math.inf, math.inf)

    def options(self) -> dict[str, Any]:
        """The settings that change results (they key the result cache)."""
        return {}

    def embed(self, dim: int) -> nn.Module:
        """A module from a batch's inputs to ``(batch, N, dim)``."""
        raise NotImplementedError

    def batch(self, generator: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch ``(inputs, targets)`` on the CPU."""
        raise NotImplementedError

    def rows(self, targets: torch.Tensor) -> torch.Tensor | None:
        """The positions (batch, m) whose outputs the loss and the score read, or None for all.

        Speed only: the probe then computes just what those outputs depend on, and
        :meth:`loss` receives the outputs and the targets at those positions
        (:func:`ylg.compare.probe.gather_rows`). The loss must be the same either way.
        """
        return None

    def loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of the probe's ``output`` for ``targets`` (both at :meth:`rows`)."""
        raise NotImplementedError

    def evaluate(self, net: nn.Module, probe: Probe,
                 device: str | torch.device) -> dict[str, Any]:
        """Held-out results: ``{"score": float, ...}`` (JSON-serialisable)."""
        raise NotImplementedError


def _grid(text_or_grid: Sequence[int]) -> tuple[int, int]:
    h, w = (int(v) for v in text_or_grid)
    return check_positive_int("grid height", h), check_positive_int("grid width", w)


class FlowTask(Task):
    """Information flow: every position outputs the symbol of the one marked source position.

    Each token carries a random symbol (``symbols`` of them) and one token per example is marked.
    Position q can answer only if the source's token reaches it through the probe's layers, so
    accuracy on pairs (source, q) that the information-flow graph does not connect is at chance
    (``1 / symbols``), whatever the training.

    Examples
    --------
    >>> t = FlowTask(grid=(4, 4), symbols=4)
    >>> x, y = t.batch(torch.Generator().manual_seed(0), 3)
    >>> x.shape, y.shape, bool((x >= 4).sum(1).eq(1).all())
    (torch.Size([3, 16]), torch.Size([3, 16]), True)
    """

    name = "flow"
    higher_is_better = True
    unit = "accuracy"
    bounds = (0.0, 1.0)

    def __init__(self, grid: Sequence[int] = (8, 8), symbols: int = 8,
                 eval_examples: int = 2048) -> None:
        self.grid = _grid(grid)
        self.symbols = check_positive_int("symbols", symbols)
        if self.symbols < 2:
            raise InvalidArgument("the flow task needs at least 2 symbols")
        self.eval_examples = check_positive_int("eval_examples", eval_examples)
        self.out_features = self.symbols

    def options(self) -> dict[str, Any]:
        return {"grid": list(self.grid), "symbols": self.symbols,
                "eval_examples": self.eval_examples}

    def embed(self, dim: int) -> nn.Module:
        return nn.Embedding(2 * self.symbols, dim)  # symbol, plus `symbols` when marked

    def _draw(self, generator: torch.Generator,
              size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.grid[0] * self.grid[1]
        sym = torch.randint(self.symbols, (size, n), generator=generator)
        source = torch.randint(n, (size,), generator=generator)
        rows = torch.arange(size)
        tokens = sym.clone()
        tokens[rows, source] += self.symbols
        targets = sym[rows, source][:, None].expand(size, n)
        return tokens, targets, source

    def batch(self, generator: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, targets, _ = self._draw(generator, size)
        return tokens, targets

    def loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.flatten(0, 1), targets.flatten())

    @torch.no_grad()
    def evaluate(self, net: nn.Module, probe: Probe,
                 device: str | torch.device) -> dict[str, Any]:
        from ylg.compare.items import reachable

        tokens, targets, source = self._draw(torch.Generator().manual_seed(2**31 - 1),
                                             self.eval_examples)
        net.eval()
        correct = torch.cat([(net(t.to(device)).argmax(-1).cpu() == y)
                             for t, y in zip(tokens.split(256), targets.split(256))]).numpy()
        net.train()
        full = reachable(probe.pattern)
        reach = full[source.numpy()]  # (examples, N): source -> position
        w = self.grid[1]
        n = self.grid[0] * w
        pos = np.arange(n)
        src = source.numpy()[:, None]
        distance = np.abs(pos // w - src // w) + np.abs(pos % w - src % w)
        by_distance = []
        for d in range(int(distance.max()) + 1):
            row: dict[str, float | None] = {"distance": d}
            for label, cls in (("reachable", reach), ("unreachable", ~reach)):
                sel = (distance == d) & cls
                row[label] = float(correct[sel].mean()) if sel.any() else None
            by_distance.append(row)
        return {
            "score": float(correct.mean()),
            "reachable": float(correct[reach].mean()) if reach.any() else None,
            "unreachable": float(correct[~reach].mean()) if (~reach).any() else None,
            "reachable_pairs": int(full.sum()), "unreachable_pairs": int((~full).sum()),
            "chance": 1.0 / self.symbols, "by_distance": by_distance,
        }


class ImagesTask(Task):
    """Masked-patch inpainting of real images: predict the pixels of a hidden square patch.

    Every pixel is a token (its value, zeroed when hidden, and a hidden flag); a ``patch`` x
    ``patch`` square at a random place is hidden and the probe must fill it in from the pixels
    around it, which rewards masks that bring 2-D neighbours together. Scored as the mean squared
    error (pixels in [0, 1]) over the hidden pixels of held-out images, ``eval_patches`` fixed
    patches per image; lower is better.

    Examples
    --------
    >>> t = ImagesTask(resolution=8, patch=2)
    >>> x, y = t.batch(torch.Generator().manual_seed(0), 3)
    >>> x.shape, y.shape, int(x[..., -1].sum())
    (torch.Size([3, 64, 2]), torch.Size([3, 64, 2]), 12)
    """

    name = "images"
    higher_is_better = False
    unit = "MSE"
    bounds = (0.0, math.inf)

    def __init__(self, data: str = "digits", resolution: int = 8, patch: int | None = None,
                 eval_patches: int = 16, channels: int | None = None) -> None:
        from ylg.data import load_data

        self.data = str(data)
        self.resolution = check_positive_int("resolution", resolution)
        self.patch = check_positive_int("patch", patch or max(1, self.resolution // 4))
        if self.patch >= self.resolution:
            raise InvalidArgument(f"patch {self.patch} must be smaller than the resolution "
                                  f"{self.resolution}")
        self.eval_patches = check_positive_int("eval_patches", eval_patches)
        self.grid = (self.resolution, self.resolution)
        if self.data in ("digits", "photos"):  # their own held-out split
            train = load_data(self.data, resolution=self.resolution, channels=channels)
            test = load_data(self.data, resolution=self.resolution, channels=channels, split="test")
            self.train, self.test = self._pixels(train), self._pixels(test)
        else:  # a user's data: the last 10 % (at least one image) held out
            x = self._pixels(load_data(self.data, resolution=self.resolution, channels=channels))
            if len(x) < 2:
                raise InvalidArgument(f"data {self.data!r} needs at least 2 images")
            cut = len(x) - max(1, len(x) // 10)
            self.train, self.test = x[:cut], x[cut:]
        self.channels = self.train.shape[-1]
        self.out_features = self.channels

    @staticmethod
    def _pixels(data: ImageData) -> torch.Tensor:
        x = data.images.float() / 255.0  # (n, c, h, w) -> (n, h*w, c)
        return x.flatten(2).transpose(1, 2).contiguous()

    def options(self) -> dict[str, Any]:
        return {"data": self.data, "resolution": self.resolution, "patch": self.patch,
                "eval_patches": self.eval_patches, "channels": self.channels}

    def embed(self, dim: int) -> nn.Module:
        return nn.Linear(self.channels + 1, dim)

    def _hide(self, pixels: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        b = pixels.shape[0]
        r, p = self.resolution, self.patch
        top = torch.randint(r - p + 1, (b,), generator=generator)
        left = torch.randint(r - p + 1, (b,), generator=generator)
        rows = torch.arange(r)
        inside_r = (rows[None] >= top[:, None]) & (rows[None] < top[:, None] + p)
        inside_c = (rows[None] >= left[:, None]) & (rows[None] < left[:, None] + p)
        hidden = (inside_r[:, :, None] & inside_c[:, None, :]).flatten(1).float()[..., None]
        inputs = torch.cat([pixels * (1 - hidden), hidden], dim=-1)
        return inputs, torch.cat([pixels, hidden], dim=-1)

    def batch(self, generator: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.train), (size,), generator=generator)
        return self._hide(self.train[idx], generator)

    def rows(self, targets: torch.Tensor) -> torch.Tensor:
        """The hidden pixels' positions: the patch's ``patch ** 2`` in every example."""
        return targets[..., -1].nonzero()[:, 1].view(len(targets), -1)

    def loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        hidden = targets[..., -1:]
        return ((output - targets[..., :-1]) ** 2 * hidden).sum() / (hidden.sum() * self.channels)

    @torch.no_grad()
    def evaluate(self, net: nn.Module, probe: Probe,
                 device: str | torch.device) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(2**31 - 1)
        pixels = self.test.repeat(self.eval_patches, 1, 1)
        inputs, targets = self._hide(pixels, gen)
        net.eval()
        sq, count = 0.0, 0.0
        for x, y in zip(inputs.split(256), targets.split(256)):
            rows = self.rows(y)
            out = net(x.to(device), rows.to(device)).cpu()
            y = gather_rows(y, rows)
            hidden = y[..., -1:]
            sq += float(((out.clamp(0, 1) - y[..., :-1]) ** 2 * hidden).sum())
            count += float(hidden.sum()) * self.channels
        net.train()
        return {"score": sq / count, "hidden_pixels": int(count) // self.channels}


#: task name -> class (or any callable taking keyword options and returning a :class:`Task`)
TASKS: dict[str, Callable[..., Task]] = {"flow": FlowTask, "images": ImagesTask}


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """Add a task to :data:`TASKS` so that ``compare(..., task=name)`` and ``--task`` find it.

    Examples
    --------
    >>> register_task("flow-small", lambda **kw: FlowTask(grid=(4, 4), **kw))
    >>> make_task("flow-small").grid
    (4, 4)
    >>> del TASKS["flow-small"]
    """
    TASKS[str(name)] = factory


def make_task(name: str, **options: Any) -> Task:
    """The registered task ``name`` built with ``options``.

    Raises
    ------
    InvalidArgument
        For an unknown name (the close names are suggested).

    Examples
    --------
    >>> make_task("flow", grid=(4, 4)).out_features
    8
    """
    check_known("task", name, TASKS)
    return TASKS[name](**options)


def task_options(task: str, *, grid: int | None = None, data: str | None = None,
                 eval_patches: int | None = None) -> dict:
    """The options of a built-in task from ``ylg compare``'s: ``grid`` the side of the square
    token grid (flow's grid, images' resolution), ``data`` the images' data, ``eval_patches``
    the hidden patches per held-out image the images task scores.

    >>> task_options("flow", grid=6), task_options("images", grid=16, data="digits")
    ({'grid': (6, 6)}, {'data': 'digits', 'resolution': 16})
    """
    images = {"data": data, "eval_patches": eval_patches}
    options: dict = {k: v for k, v in images.items() if v is not None}
    if options and task != "images":
        raise InvalidArgument(f"--{next(iter(options)).replace('_', '-')} applies to --task "
                              f"images")
    if grid is not None:
        options.update({"resolution": grid} if task == "images" else {"grid": (grid, grid)})
    return options
