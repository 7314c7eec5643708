"""Memory estimates, so that a size that cannot fit is refused before anything is allocated.

The estimates are upper bounds of the peak memory, from measurements: building and checking a
pattern costs about 21 bytes per edge at its peak (``benchmarks/bench_check.py``: 552 MiB for
25 M edges at N = 65,536, 3.9 GiB for 202 M at 262,144), and extending one about 45-55 bytes per
(query, key) pair (its search works on dense N x N arrays).
"""

from __future__ import annotations

import math
import os
import resource

from ifg.errors import InvalidArgument

__all__ = ["BYTES_PER_EDGE", "BYTES_PER_PAIR", "BYTES_PER_POSITION", "available_memory",
           "check_fits", "format_bytes", "pattern_edges", "layer_edges"]

#: peak bytes per edge to build and check a pattern (measured about 21), with headroom
BYTES_PER_EDGE = 32
#: peak bytes per (query, key) pair to extend a pattern (measured 45-55), with headroom
BYTES_PER_PAIR = 64
#: peak bytes per position of an enumeration (a few int64 arrays of N), with headroom
BYTES_PER_POSITION = 64


def available_memory() -> int:
    """Bytes a new allocation can get: the kernel's MemAvailable (else the physical memory),
    capped by this process's address-space limit (``ulimit -v``) when one is set.

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 62  # unknown: refuse nothing
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return min(avail, soft) if soft != resource.RLIM_INFINITY else avail


def format_bytes(n: float) -> str:
    """``n`` bytes in a readable unit.

    Examples
    --------
    >>> format_bytes(3 * 2**30), format_bytes(2.5e18)
    ('3.0 GiB', '2.2 EiB')
    """
    units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    k = min(int(math.log(max(n, 1), 1024)), len(units) - 1)
    return f"{n:.0f} bytes" if k == 0 else f"{n / 1024 ** k:.1f} {units[k]}"


def check_fits(what: str, nbytes: float) -> None:
    """Refuse ``what`` when its estimated peak memory exceeds :func:`available_memory`.

    Parameters
    ----------
    what : str
        What would be built, for the message (e.g. ``"ltr over N = 1,000,000 positions"``).
    nbytes : float
        Its estimated peak memory.

    Raises
    ------
    InvalidArgument
        One line: what, the estimate and the memory available.

    Examples
    --------
    >>> check_fits("a small thing", 1024)
    >>> check_fits("a huge thing", 2.0 ** 70)
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: a huge thing would need about 1024.0 EiB of memory ...
    """
    avail = available_memory()
    if nbytes > avail:
        raise InvalidArgument(f"{what} would need about {format_bytes(nbytes)} of memory "
                              f"(estimated), but {format_bytes(avail)} is available; use a "
                              "smaller size")


def pattern_edges(name: str, n: int) -> int:
    """An upper bound on the edges of the named pattern over N positions.

    ``dense`` has N^2; every other named pattern has at most two steps in which no query attends
    more than ``s + 3`` keys (``s = floor(sqrt(N))``), or ``2 N s`` edges in all (``random``).

    Examples
    --------
    >>> pattern_edges("ltr", 81) >= sum(__import__("ifg").pattern("ltr", 81).edges)
    True
    """
    if name == "dense":
        return n * n
    return 2 * n * (math.isqrt(n) + 3)


def layer_edges(num_heads: int, query_grid: tuple[int, int], key_grid: tuple[int, int]) -> int:
    """An upper bound on the edges of a layer of named sparse patterns tiled to the query grid.

    Examples
    --------
    >>> layer_edges(8, (32, 32), (16, 16))
    155648
    """
    nq, nk = query_grid[0] * query_grid[1], key_grid[0] * key_grid[1]
    return num_heads * nq * (math.isqrt(nk) + 3)
