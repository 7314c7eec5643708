"""A training run's folder as rank 0 writes it: config.json, log.jsonl, TensorBoard, samples.

Opening it for a resumed run keeps the log lines up to the checkpoint's step (a killed run may
have logged past it) and drops a temporary checkpoint a killed write left behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ifg.errors import InvalidArgument, YLGError
from ifg.files import atomic_write, dumps_strict
from ylg.config import TrainConfig
from ylg.run.files import append_line, read_records, refuse_links
from ylg.viz import plot_training, save_image_grid

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["RunFolder", "read_log", "discard_unsaved", "draw_curves"]


def read_log(path: Path, upto: int) -> list[str]:
    """The log lines of steps ``<= upto`` (a killed run may have logged past its checkpoint),
    read by :func:`ylg.run.files.read_records` (bounded, typed; a line it skips is dropped)."""
    if not os.path.lexists(path):
        return []
    return [dumps_strict(r) for r in read_records(path) if r["step"] <= upto]


class RunFolder:
    """Rank 0's writes into the run folder: config, log lines, TensorBoard, sample grids."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, *, start: int, resume: bool,
                 class_names: Sequence[str]) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        refuse_links(run_dir)  # no write below follows a link out of the folder
        for stale in run_dir.glob(".checkpoint.pt.tmp-*"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        atomic_write(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        self.dir, self.log_path = run_dir, run_dir / "log.jsonl"
        # one column per class, labelled, when there are a few classes
        self.labels = tuple(class_names) if 1 < len(class_names) <= 16 else None
        self.scale = max(1, 64 // cfg.resolution)
        kept = read_log(self.log_path, start) if resume else []
        atomic_write(self.log_path, "".join(line + "\n" for line in kept))
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
        append_line(self.log_path, dumps_strict(line))  # strict JSON: a NaN metric is null
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

    def discard(self) -> None:
        """Close the folder and remove what this run wrote in it (config, log, samples,
        TensorBoard): a new run stopped before it trained."""
        self.close()
        for name in ("config.json", "log.jsonl"):
            (self.dir / name).unlink(missing_ok=True)
        for name in ("samples", "tensorboard"):
            shutil.rmtree(self.dir / name, ignore_errors=True)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def discard_unsaved(run_dir: Path) -> None:
    """A new run that failed before its first checkpoint (out of memory in its first step, a
    bad setting) leaves no config.json or log.jsonl behind: nothing could resume them."""
    if os.path.lexists(run_dir / "checkpoint.pt"):
        return
    for name in ("config.json", "log.jsonl", "curves.png"):
        with contextlib.suppress(OSError):
            (run_dir / name).unlink()
    with contextlib.suppress(OSError):
        (run_dir / "samples").rmdir()  # when empty


def draw_curves(run_dir: Path, say: Callable[[str], None]) -> None:
    """Draw ``curves.png``; never stops the run: a log with nothing to draw yet (a checkpoint
    before the first log line) is skipped, a failure to write it is a warning."""
    try:
        plot_training(run_dir)
    except InvalidArgument:  # nothing logged yet: the next checkpoint draws the curves
        pass
    except (YLGError, OSError) as err:
        why = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) else str(err)
        say(f"warning: curves.png not drawn ({why})")
