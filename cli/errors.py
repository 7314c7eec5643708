"""The error boundary: library errors reach the user as one line on stderr and exit code 2;
library messages (the ``ylg`` and ``ifg`` loggers) as plain lines on stderr."""

import contextlib
import logging
import sys

import click

from ifg.errors import YLGError

__all__ = ["Group", "one_line", "as_typed", "EXIT_OK", "EXIT_FAILS", "EXIT_BAD_INPUT",
           "EXIT_INTERRUPTED", "describe", "out_of_memory",
           "LIBRARY_LOGGERS", "library_messages"]

#: the loggers whose messages a command shows on stderr
LIBRARY_LOGGERS = ("ylg", "ifg")

EXIT_OK, EXIT_FAILS, EXIT_BAD_INPUT = 0, 1, 2
#: a command stopped by Ctrl-C ends with a shell's status for SIGINT, 128 + 2
EXIT_INTERRUPTED = 130


def describe(err: BaseException) -> str:
    """One line for an error the user can act on: a bad input, a file system refusal, memory.

    >>> describe(FileNotFoundError(2, "No such file or directory", "runs/x/log.jsonl"))
    'runs/x/log.jsonl: No such file or directory'
    >>> describe(OSError(28, "No space left on device", "out/samples.png"))
    'out/samples.png: No space left on device (free some space or write elsewhere)'
    """
    if isinstance(err, OSError):
        where = err.filename if err.filename is not None else "a file"
        if err.filename2 is not None:
            where = f"{where} -> {err.filename2}"
        reason = err.strerror or str(err) or type(err).__name__
        hint = {28: " (free some space or write elsewhere)",
                30: " (the file system is read-only: write elsewhere)"}.get(err.errno, "")
        return f"{where}: {reason}{hint}"
    if isinstance(err, MemoryError) or out_of_memory(err):
        what = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        return ("out of memory" + (f" ({what})" if what else "") +
                ": use a smaller size, batch or grid")
    return str(err)


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is torch's refusal to allocate: ``torch.OutOfMemoryError`` on a GPU, the
    CPU allocator's RuntimeError ("DefaultCPUAllocator: not enough memory", or since torch 2.13
    "can't allocate memory"); told apart without importing torch, so that ``ylg-masks`` never
    loads it.

    >>> out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. "
    ...                            "DefaultCPUAllocator: not enough memory: you tried to allocate"))
    True
    >>> out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: "
    ...                            "can't allocate memory: you tried to allocate 4 bytes."))
    True
    >>> out_of_memory(RuntimeError("shape mismatch"))
    False
    """
    if not isinstance(err, RuntimeError):
        return False
    if type(err).__name__ == "OutOfMemoryError":
        return True
    text = str(err)
    return "DefaultCPUAllocator" in text and ("not enough memory" in text
                                              or "can't allocate memory" in text)


class _Lines(logging.Handler):
    """A message per line on stderr, written around any progress bar (``tqdm.write``)."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging's rule: a failed message never stops the job
            self.handleError(record)


@contextlib.contextmanager
def library_messages(level=logging.INFO):
    """While a command runs, the library's messages at ``level`` and above go to stderr as plain
    ``message`` lines (``--quiet`` raises the level to WARNING); the loggers are restored after,
    so a program that embeds the commands keeps its own logging."""
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    before = [logger.level for logger in loggers]
    handler = _Lines()
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield handler
    finally:
        for logger, old in zip(loggers, before):
            logger.removeHandler(handler)
            logger.setLevel(old)


#: click's "no arguments: show the help" (a UsageError since click 8.2)
_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def one_line(err: click.UsageError) -> click.UsageError:
    """A usage error shown as one ``Error: ...`` line that names the help to read, exit code 2
    (click's own shows the usage and a hint before it: four lines).

    >>> import io
    >>> ctx = click.Context(click.Command("check"), info_name="ylg-masks check")
    >>> err = one_line(click.UsageError("give --pattern and --n", ctx))
    >>> shown = io.StringIO(); err.show(shown); shown.getvalue().splitlines(), err.exit_code
    (["Error: give --pattern and --n (see 'ylg-masks check --help')"], 2)
    """
    if isinstance(err, _HELP) or err.ctx is None:  # a bare `ylg`: click shows the help
        return err
    # formatted while err.ctx is set (an option's name comes from it); shown without it
    return click.UsageError(f"{err.format_message()} (see '{err.ctx.command_path} --help')")


def as_typed(message: str, options: dict[str, str]) -> str:
    """``message`` with a leading parameter name (the library's ``batch_size must be ...``)
    spelt as the command line's option (``--batch-size must be ...``).

    >>> as_typed("batch_size must be a positive integer, got 0", {"batch_size": "--batch-size"})
    '--batch-size must be a positive integer, got 0'
    >>> as_typed("batch_sizes are fine", {"batch_size": "--batch-size"})
    'batch_sizes are fine'
    """
    name = message.split(" ", 1)[0]
    return options[name] + message[len(name):] if name in options else message


class Group(click.Group):
    """A click group whose commands turn :class:`YLGError`, ``OSError`` and ``MemoryError``
    into ``Error: ...`` on stderr and exit 2, never a traceback, end on Ctrl-C with the status
    a shell gives SIGINT (130) and no "Aborted!", and show the library's
    messages on stderr (:func:`library_messages`); usage errors too are one line
    (:func:`one_line`)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:  # the group's own options (``ylg --thread 1``)
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:
            raise one_line(err) from None

    def _options(self, ctx) -> dict[str, str]:
        """The invoked command's options by parameter name: its longest spelling (not the
        group's: ``--threads`` may come from ``$YLG_THREADS``, which its message names)."""
        command = self.get_command(ctx, ctx.invoked_subcommand or "")
        params = command.params if command is not None else []
        return {p.name: max(p.opts, key=len) for p in params
                if isinstance(p, click.Option) and p.name and not p.is_flag}

    def invoke(self, ctx):
        try:
            with library_messages():
                return super().invoke(ctx)
        except click.UsageError as err:  # an unknown command, a subcommand's option or value
            raise one_line(err) from None
        except (YLGError, OSError, MemoryError) as err:
            # only a library message starts with a parameter's name ("out of memory" does not)
            message = (as_typed(describe(err), self._options(ctx)) if isinstance(err, YLGError)
                       else describe(err))
            click.echo(f"Error: {message}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except RuntimeError as err:  # torch's allocators; any other RuntimeError is a bug
            if not out_of_memory(err):
                raise
            click.echo(f"Error: {describe(err)}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:  # the command has said what it kept; not click's "Aborted!"
            ctx.exit(EXIT_INTERRUPTED)
