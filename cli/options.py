"""Options shared by the ``ylg`` commands, defined once."""

import click

__all__ = ["seed_option", "device_option", "out_option", "checkpoint_option", "version_option"]


def seed_option(default=0):
    """``--seed``: every random draw of the command follows from it."""
    return click.option("--seed", type=int, default=default, show_default=True,
                        help="Random seed.")


def device_option(default="auto"):
    """``--device``: auto (CUDA when available), cpu, cuda, cuda:N."""
    return click.option("--device", default=default, show_default=True,
                        help="auto (CUDA when available), cpu, cuda or cuda:N.")


def out_option(help, *, required=True):
    """``-o/--out``: where the command writes (a file or a run folder; ``help`` says which)."""
    return click.option("-o", "--out", required=required, type=click.Path(dir_okay=True),
                        help=help)


def checkpoint_option():
    """``--checkpoint``: a checkpoint written by ``ylg train``."""
    return click.option("--checkpoint", required=True, type=click.Path(),
                        help="A checkpoint (RUN_DIR/checkpoint.pt) written by `ylg train`.")


def version_option():
    """``--version``: the installed distribution's version (from its package metadata)."""
    return click.version_option(package_name="ylg-toolkit", message="%(prog)s %(version)s")
