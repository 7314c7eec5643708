"""A training run's folder as rank 0 writes it: config.json, log.jsonl, TensorBoard, samples.

Opening it for a resumed run keeps the log lines up to the checkpoint's step (a killed run may
have logged past it) and drops a temporary checkpoint a killed write left behind.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ifg.errors import YLGError
from ifg.files import dumps_strict
from ylg.config import TrainConfig
from ylg.viz import save_image_grid

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["RunFolder", "read_log"]


def read_log(path: Path, upto: int) -> list[str]:
    """The log lines of steps ``<= upto`` (a killed run may have logged past its checkpoint)."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill is dropped
            if json.loads(line)["step"] <= upto:
                lines.append(line)
    return lines


class RunFolder:
    """Rank 0's writes into the run folder: config, log lines, TensorBoard, sample grids."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, *, start: int, resume: bool,
                 class_names: Sequence[str]) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in run_dir.glob(".checkpoint.pt.tmp-*"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        self.dir, self.log_path = run_dir, run_dir / "log.jsonl"
        # one column per class, labelled, when there are a few classes
        self.labels = tuple(class_names) if 1 < len(class_names) <= 16 else None
        self.scale = max(1, 64 // cfg.resolution)
        kept = read_log(self.log_path, start) if resume else []
        self.log_path.write_text("".join(line + "\n" for line in kept))
        self.writer: SummaryWriter | None = None
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise YLGError("--tensorboard needs the tensorboard package (pip install "
                               "tensorboard)") from None
            self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def log(self, line: dict[str, Any], scalars: Mapping[str, Any] | None = None,
            prefix: str = "") -> None:
        """Append ``line`` to ``log.jsonl``; the float ``scalars`` also go to TensorBoard."""
        with open(self.log_path, "a") as f:
            f.write(dumps_strict(line) + "\n")  # strict JSON: a NaN metric is null
        for k, v in (scalars or {}).items() if self.writer is not None else ():
            if isinstance(v, float):
                assert self.writer is not None  # the loop runs only with a writer
                self.writer.add_scalar(prefix + k, v, line["step"])

    def samples(self, step: int, images: torch.Tensor) -> None:
        # the classes cycle through the images: a multiple of their count of columns keeps one
        # class per column, and the least such at least sqrt(n) keeps the grid near square
        cols, labels = None, self.labels
        if self.labels:
            k = len(self.labels)
            cols = k * max(1, math.ceil(math.sqrt(len(images)) / k))
            labels = self.labels * (cols // k)
        save_image_grid(images, self.dir / "samples" / f"step_{step:07d}.png",
                        nrow=cols, scale=self.scale, labels=labels)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
