"""The one way the CLI tests call a click program: in-process, arguments as strings."""

from click.testing import CliRunner


def runner(program):
    """A ``run(*args)`` that invokes ``program`` with ``args`` (each passed through ``str``)."""

    def run(*args):
        return CliRunner().invoke(program, [str(a) for a in args])

    return run
