"""Stop signals deferred to a step's end: a first Ctrl-C (SIGINT) or SIGTERM (``kill``, a
scheduler's end of a job) during ``ylg train`` lets the step under way end and be saved before
the run stops, where up to ``checkpoint_every`` steps would be lost; a second one acts at once.

:func:`deferred_stop` wraps the training loop of one process; the loop reads
:attr:`StopRequest.signum` after each step and, once the step is saved, calls :func:`stop`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["StopRequest", "deferred_stop", "stop"]

#: the signals deferred, with the handler each must have for :func:`deferred_stop` to take it
#: over (someone else's handler is left alone)
_DEFERRED = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


class StopRequest:
    """What :func:`deferred_stop` yields: ``signum``, the first stop signal received (0: none)."""

    def __init__(self) -> None:
        self.signum = 0


@contextlib.contextmanager
def deferred_stop(active: bool) -> Iterator[StopRequest]:
    """Defer SIGINT and SIGTERM while the block runs: the first one only records its number in
    the :class:`StopRequest` and restores the default handler, so that a second one acts at
    once. Only when ``active``, in the main thread, and for a signal that has its default
    handler (a process started in the background by a shell inherits SIGINT ignored: it stays
    ignored); else nothing changes."""
    request = StopRequest()
    mine = {sig: default for sig, default in _DEFERRED.items()
            if active and threading.current_thread() is threading.main_thread()
            and signal.getsignal(sig) is default}

    def first(signum: int, frame: FrameType | None) -> None:
        request.signum = request.signum or signum
        signal.signal(signum, mine[signal.Signals(signum)])

    for sig in mine:
        signal.signal(sig, first)
    try:
        yield request
    finally:
        for sig, default in mine.items():
            signal.signal(sig, default)


def stop(signum: int) -> None:
    """End the run as the signal ``signum`` would have: KeyboardInterrupt for SIGINT, the
    default action (the process ends) for SIGTERM."""
    if signum == signal.SIGTERM:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    raise KeyboardInterrupt
