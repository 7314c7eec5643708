"""How ``Attention2d(backend="auto")`` chooses between the dense and the sparse backend.

Two steps. At construction, masks that allow too many pairs (the sparse plan's padded work above
a quarter of the dense work) take the dense backend: there is nothing to gain. Otherwise the
choice waits for the first forward, which knows the device and the batch, and reads the measured
table ``backend_table.json`` (next to this file): for each device kind, ranges of the dense
backend's logits size ``batch * heads * Nq * Nk`` and the backend that was faster there (forward
and backward). The table is written by ``benchmarks/bench_attention.py --auto-table``; its
``command``, ``date`` and ``machine`` say how.

A device kind the table does not list (CUDA: no GPU measurement exists yet) keeps the rule used
before the table: sparse from ``Nq * Nk >= 8192`` on. Both backends give the same answer (to
rounding), so the choice changes only the speed.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

__all__ = ["TABLE_PATH", "auto_backend", "backend_table", "sparse_pays"]

#: the measured table (see the module docstring)
TABLE_PATH = Path(__file__).with_name("backend_table.json")
#: masks whose padded sparse work exceeds this share of the dense work always run dense
MAX_SPARSE_SHARE = 0.25
#: without a measurement for the device: sparse from this many query-key pairs a head on
MIN_PAIRS = 1 << 13


@functools.lru_cache(maxsize=1)
def backend_table() -> dict[str, Any]:
    """The measured table: ``{"rows": {device kind: [{"from", "to", "backend"}, ...]}, ...}``,
    ranges of ``batch * heads * Nq * Nk`` (``to`` None: no upper end). Read once."""
    return json.loads(TABLE_PATH.read_text())


def sparse_pays(sparse_work: int, dense_work: int) -> bool:
    """Whether the masks are sparse enough for the sparse backend to be worth considering.

    >>> sparse_pays(20, 100), sparse_pays(30, 100)
    (True, False)
    """
    return sparse_work <= MAX_SPARSE_SHARE * dense_work


def auto_backend(device_type: str, *, batch: int, heads: int, nq: int, nk: int,
                 table: dict[str, Any] | None = None) -> str:
    """The backend ``auto`` takes on a device kind for a call of this size (masks that pay).

    Parameters
    ----------
    device_type : str
        ``"cpu"``, ``"cuda"``, ... (``torch.device.type``).
    batch, heads, nq, nk : int
        The call's batch, the layer's heads, queries and keys.
    table : dict, optional
        The table to read (default :func:`backend_table`).

    Returns
    -------
    str
        ``"dense"`` or ``"sparse"``.

    Examples
    --------
    >>> t = {"rows": {"cpu": [{"from": 0, "to": 1000, "backend": "dense"},
    ...                       {"from": 1000, "to": None, "backend": "sparse"}]}}
    >>> auto_backend("cpu", batch=1, heads=2, nq=16, nk=16, table=t)
    'dense'
    >>> auto_backend("cpu", batch=4, heads=2, nq=16, nk=16, table=t)
    'sparse'
    >>> auto_backend("cuda", batch=1, heads=8, nq=256, nk=64, table=t)  # no row: the old rule
    'sparse'
    """
    rows = (backend_table() if table is None else table)["rows"].get(device_type)
    if not rows:
        return "sparse" if nq * nk >= MIN_PAIRS else "dense"
    size = batch * heads * nq * nk
    for row in rows:
        if row["from"] <= size and (row["to"] is None or size < row["to"]):
            return str(row["backend"])
    return str(rows[0 if size < rows[0]["from"] else -1]["backend"])
