"""The error boundary: library errors reach the user as one line on stderr and exit code 2."""

import click

from ifg.errors import YLGError

__all__ = ["Group", "EXIT_OK", "EXIT_FAILS", "EXIT_BAD_INPUT"]

EXIT_OK, EXIT_FAILS, EXIT_BAD_INPUT = 0, 1, 2


class Group(click.Group):
    """A click group whose commands turn :class:`YLGError` into ``Error: ...`` and exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except YLGError as err:
            click.echo(f"Error: {err}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
