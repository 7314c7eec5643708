"""Errors of the PyTorch stack; each is an :class:`ifg.errors.YLGError` (exit code 2 in the CLI)."""

from ifg.errors import InvalidArgument, MaskFileError, YLGError

__all__ = ["YLGError", "InvalidArgument", "MaskFileError", "DataError", "CheckpointError"]


class DataError(YLGError):
    """A data set cannot be read or is empty; the message names the path."""


class CheckpointError(YLGError):
    """A checkpoint is missing, corrupt or does not match the model; the message says which."""
