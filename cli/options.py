"""Options and parsers shared by the ``ylg`` and ``ylg-masks`` commands, defined once."""

import dataclasses
import logging

import click

from .errors import LIBRARY_LOGGERS

__all__ = ["SEED", "seed_option", "device_option", "out_option", "checkpoint_option", "version_option",
           "weights_option", "quiet_option", "Point", "config_options", "given", "long_command"]


class Seed(click.IntRange):
    """A seed: an integer in 0..2**63 - 1, what torch's and numpy's generators all take (a
    negative or larger one would fail inside them, with a traceback)."""

    def __init__(self):
        super().__init__(0, 2**63 - 1)

    def _describe_range(self):
        return "0<=x<2**63"


#: the type of every seed option
SEED = Seed()


def seed_option(default=0):
    """``--seed``: every random draw of the command follows from it."""
    return click.option("--seed", type=SEED, default=default, show_default=True,
                        help="Random seed.")


def device_option(default="auto"):
    """``--device``: auto (CUDA when available), cpu, cuda, cuda:N."""
    return click.option("--device", default=default, show_default=True,
                        help="auto (CUDA when available), cpu, cuda or cuda:N.")


def out_option(help, *, required=True, dest="out", dir_okay=True):
    """``-o/--out/--output`` (all three spellings): where the command writes."""
    return click.option("-o", "--out", "--output", dest, required=required, default=None,
                        type=click.Path(dir_okay=dir_okay), help=help)


def checkpoint_option():
    """``--checkpoint``: a checkpoint written by ``ylg train``."""
    return click.option("--checkpoint", required=True, type=click.Path(),
                        help="A checkpoint (RUN_DIR/checkpoint.pt) written by `ylg train`.")


def version_option():
    """``--version``: the installed distribution's version (from its package metadata)."""
    return click.version_option(package_name="ylg-toolkit", message="%(prog)s %(version)s")


def weights_option():
    """``--weights ema|g``: the EMA of G's weights, or G's own."""
    return click.option("--weights", type=click.Choice(["ema", "g"]), default="ema",
                        show_default=True, help="The EMA of G's weights, or G's own.")


def _quiet(ctx, param, value):
    if value:  # the library's notes and estimates are INFO: only its warnings remain
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    return value


def quiet_option():
    """``--quiet``: no progress bar, and of the library's messages only the warnings."""
    return click.option("--quiet", is_flag=True, callback=_quiet,
                        help="No progress bar; only warnings among the messages.")


def long_command(f):
    """Mark a command that runs for minutes: its help ends with what to do on a shared machine."""
    name = f.__name__.replace("_", "-")
    f.__doc__ = (f.__doc__ or "").rstrip() + (
        f"\n\n    On a shared machine (other jobs on the CPUs) run `ylg --threads 1 {name} ...` or "
        "set YLG_THREADS=1: beside other work torch's default threads can make each step "
        "several times slower (docs/benchmarks.md).\n")
    return f


class Point(click.ParamType):
    """``R,C``: a (row, column) pair of integers."""

    name = "R,C"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            r, c = (int(v) for v in value.split(","))
        except ValueError:
            self.fail(f"must read ROW,COL such as 4,4, got {value!r}", param, ctx)
        return (r, c)


def _config_option(f):
    """The click option of one config field: its name, default, help and choices."""
    meta, flag = f.metadata, "--" + f.name.replace("_", "-")
    decls = ("-o", "--out", "--output") if f.name == "out" else (flag,)
    kind = {"bool": bool, "int": int, "float": float}.get(str(f.type).split(" |")[0], str)
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    if kind is bool:
        return click.option(flag, f.name, is_flag=True, default=default, help=meta["help"])
    choices = meta.get("choices")
    choices = choices() if callable(choices) else choices
    extra = {}
    if choices is not None:
        extra = dict(type=click.Choice([str(c) for c in choices]),
                     callback=lambda ctx, p, v: None if v is None else kind(v))
    else:
        extra = dict(type=kind)
    return click.option(*decls, f.name, default=default, show_default=default not in (None, ""),
                        help=meta["help"], **extra)


def config_options(cls, *, skip=()):
    """One option per field of the dataclass ``cls`` (``--field-name``), from its metadata.

    The defaults are the fields' own: no ``cls()`` is built (TrainConfig's checks would import
    torch when the program starts)."""

    def decorate(command):
        for f in reversed(dataclasses.fields(cls)):
            if f.name not in skip:
                command = _config_option(f)(command)
        return command

    return decorate


def given(ctx, names) -> set:
    """The parameters among ``names`` given on the command line or from the environment."""
    from click.core import ParameterSource

    return {k for k in names if ctx.get_parameter_source(k) in
            (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
