"""The error boundary: library errors reach the user as one line on stderr and exit code 2."""

import click

from ifg.errors import YLGError

__all__ = ["Group", "EXIT_OK", "EXIT_FAILS", "EXIT_BAD_INPUT", "describe"]

EXIT_OK, EXIT_FAILS, EXIT_BAD_INPUT = 0, 1, 2


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
    if isinstance(err, MemoryError):
        return ("out of memory" + (f" ({err})" if str(err) else "") +
                ": use a smaller size, batch or grid")
    return str(err)


class Group(click.Group):
    """A click group whose commands turn :class:`YLGError`, ``OSError`` and ``MemoryError``
    into ``Error: ...`` on stderr and exit 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (YLGError, OSError, MemoryError) as err:
            click.echo(f"Error: {describe(err)}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
