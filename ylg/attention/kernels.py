"""The attention cores of :class:`ylg.attention.Attention2d` on head-split tensors.

- :func:`dense_attention`: full ``(Nq, Nk)`` logits, masked to ``-inf`` (the reference);
- :func:`sparse_core`: the tiled sparse backend's work: gather each tile's queries and its union
  of keys, attend within the tile (:class:`TileAttention`, a hand-written backward), put the
  outputs back in (head, query) order, channels first (:func:`tile_rows` builds the indices,
  once per batch size).

Every gather runs along dim 0 of flattened rows, and every operation here may run on one CPU
thread (:class:`one_thread`); whether it does is the layer's policy
(:func:`single_threaded`). The tile structure these functions read is compiled by
:mod:`ylg.attention.plan` (``TilePlan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__: list[str] = []


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     blocked: torch.Tensor | None, return_attention: bool
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Reference attention over full logits.

    Shapes: q (b, h, nq, d), k (b, h, nk, d), v (b, h, nk, e), blocked (h, nq, nk) bool or None.
    Returns o (b, h, nq, e) and the attention (b, h, nq, nk) or None.
    """
    logits = q @ k.transpose(-1, -2)  # (b, h, nq, nk), unscaled as in SAGAN
    if blocked is not None:
        logits = logits.masked_fill(blocked, float("-inf"))  # weight exactly 0 after softmax
    attn = logits.softmax(dim=-1)
    return attn @ v, (attn if return_attention else None)


class TileAttention(torch.autograd.Function):
    """Masked attention of every tile against its gathered keys, with a hand-written backward.

    Shapes: q (..., t, d), k (..., u, d), v (..., u, e), blocked (..., u, t) broadcastable (keys
    first). Returns the output (..., e, t), channels first (the layout the output projection
    reads, and the cheaper product), and the weights (..., u, t), keys first.
    The logits are kept keys-major, (..., u, t): a tile has few keys (8 to 24) and more queries,
    and the softmax's sums over keys then run over an outer dimension, a vectorised pass over
    rows of ``t`` queries, where an inner dimension of ``u`` costs a reduction per query.
    Written out rather than left to autograd so that the logits become the weights in place
    (exp, mask, normalise) and the backward turns one fresh tensor into the logits' gradient in
    place: the largest tensors are allocated twice instead of four times, which matters on CPU,
    where each fresh block of more than 32 MB is page-faulted in from the system. Blocked weights
    are exactly 0, so the softmax backward gives them zero gradient without masking again. The
    weights are an output and are what the backward keeps, so double backward works.
    """

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, blocked: torch.Tensor,
                single: bool = False, shift: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.single = single
        if q.shape[-1] == 1:
            # one channel a head: the logits are an outer product, for which a batched matmul
            # of many tiny matrices is several times slower on CPU than one broadcast multiply
            attn = k * q.transpose(-1, -2)  # (..., u, t), exactly what the matmul gives
        else:
            attn = k @ q.transpose(-1, -2)  # (..., u, t)
        if shift:  # the max over allowed keys: every query has one, so it is finite
            attn.masked_fill_(blocked, float("-inf"))
            attn.sub_(attn.amax(dim=-2, keepdim=True)).masked_fill_(blocked, 0.0)
        # blocked weights are zeroed after exp rather than computed as exp(-inf): on CPU, exp
        # of an input whose result underflows (-inf, or below -87 in float32) takes a slow
        # path, 25x slower than the whole pass otherwise (docs/benchmarks.md)
        attn.exp_().masked_fill_(blocked, 0.0)
        attn.div_(attn.sum(dim=-2, keepdim=True))
        o = v.transpose(-1, -2) @ attn  # (..., e, t)
        ctx.save_for_backward(q, k, v, attn, o)
        ctx.set_materialize_grads(False)  # the weights' gradient is None unless they are used
        return o, attn

    @staticmethod
    def backward(ctx: Any, grad_o: torch.Tensor | None, grad_attn: torch.Tensor | None
                 ) -> tuple[torch.Tensor | None, ...]:
        with one_thread(ctx.single):
            return TileAttention._backward(ctx, grad_o, grad_attn)

    @staticmethod
    def _backward(ctx: Any, grad_o: torch.Tensor | None, grad_attn: torch.Tensor | None
                  ) -> tuple[torch.Tensor | None, ...]:
        q, k, v, attn, o = ctx.saved_tensors  # attn (..., u, t), o (..., e, t)
        if grad_o is None and grad_attn is None:
            return None, None, None, None, None, None
        grad_v = None
        if grad_o is None:
            assert grad_attn is not None  # both None returned above
            grad = grad_attn.clone()
            dot = (grad * attn).sum(dim=-2, keepdim=True)  # (..., 1, t)
            grad = grad - dot if torch.is_grad_enabled() else grad.sub_(dot)
        else:
            grad_v = attn @ grad_o.transpose(-1, -2)  # (..., u, e)
            # the softmax backward's <grad, attn> over keys is <grad_o, o> over the output's
            # e channels: a pass over the output instead of two over the logits
            dot = (grad_o * o).sum(dim=-2, keepdim=True)  # (..., 1, t)
            if grad_attn is not None:
                dot = dot + (grad_attn * attn).sum(dim=-2, keepdim=True)
            # v @ grad_o - dot in one product, (..., u, t)
            grad = torch.baddbmm(dot.flatten(0, -3), v.flatten(0, -3), grad_o.flatten(0, -3),
                                 beta=-1).view(attn.shape)
            if grad_attn is not None:
                grad = grad + grad_attn
        # softmax backward, attn * (grad - dot)
        if torch.is_grad_enabled():  # double backward: keep every step on the graph
            grad = grad * attn
        else:
            grad.mul_(attn)
        return grad.transpose(-1, -2) @ k, grad @ q, grad_v, None, None, None


#: on CPU the sparse cores run on one thread up to this many multiply-adds a call (see
#: :class:`one_thread`); every size measured so far is below it
ONE_THREAD_MAX_WORK = 1 << 32


def single_threaded(t: torch.Tensor, work: int) -> bool:
    """Whether a sparse core on tensor ``t`` with ``work`` multiply-adds runs on one thread: the
    policy of the layer's sparse backend and of ``ylg.flex_attention``.

    Never while ``torch.compile`` or ``torch.export`` traces: ``torch.set_num_threads`` is a
    side effect outside the graph (dynamo warns and skips it), and the compiled code has its
    own threading."""
    if torch.compiler.is_compiling():
        return False
    return t.device.type == "cpu" and work <= ONE_THREAD_MAX_WORK


class one_thread:
    """Run a block with one torch CPU thread when ``on``, restoring the count after.

    The sparse core is many small operations; each is an OpenMP parallel region, and on a busy
    machine its threads wait on descheduled peers at every region's end. Measured beside two
    other 2-thread jobs (``benchmarks/bench_attention.py --contention``), one thread ran the
    64x64 layer's forward and backward 10x faster than two; on an idle machine the two took
    about as long as one (docs/benchmarks.md).
    """

    def __init__(self, on: bool) -> None:
        # never while torch.compile or torch.export traces (see single_threaded)
        self.on = on and torch.get_num_threads() > 1 and not torch.compiler.is_compiling()
        self.threads: int | None = None

    def __enter__(self) -> None:
        if self.on:
            self.threads = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)


def _select(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x.index_select(0, index)``; rows one wide are gathered as a flat vector (about 2.5x
    faster on CPU than as rows of a matrix)."""
    if x.dim() == 2 and x.shape[1] == 1:
        return x.view(-1).index_select(0, index).view(-1, 1)
    return x.index_select(0, index)


class _Gather(torch.autograd.Function):
    """``x.index_select(0, index)`` whose backward (an index_add) follows the thread policy."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, index: torch.Tensor, single: bool) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.rows, ctx.single = x.shape[0], single
        return _select(x, index)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (index,) = ctx.saved_tensors
        with one_thread(ctx.single):
            out = grad.new_zeros((ctx.rows,) + grad.shape[1:]).index_add_(0, index, grad)
        return out, None, None


class _Permute(torch.autograd.Function):
    """``x.index_select(0, index)`` for a permutation ``index``: the backward gathers with the
    inverse permutation instead of adding into zeros."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor,
                single: bool) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        ctx.single = single
        return _select(x, index)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (inverse,) = ctx.saved_tensors
        with one_thread(ctx.single):
            return _select(grad, inverse), None, None, None


class _Place(torch.autograd.Function):
    """The rows of ``parts`` (concatenated) put in place by a permutation: ``out[index[i]]`` is
    row ``i``. Each part is copied once into the result (no concatenation, no zeros); the
    backward gathers each part's rows back."""

    @staticmethod
    def forward(ctx: Any, index: torch.Tensor, single: bool, *parts: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.sizes, ctx.single = [p.shape[0] for p in parts], single
        out = parts[0].new_empty((index.numel(),) + parts[0].shape[1:])
        for part, rows in zip(parts, index.split(ctx.sizes)):
            out.index_copy_(0, rows, part)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (index,) = ctx.saved_tensors
        with one_thread(ctx.single):
            return (None, None, *(_select(grad, rows) for rows in index.split(ctx.sizes)))


def _rows(index: torch.Tensor, batch: int, stride: int) -> torch.Tensor:
    """``index`` repeated for each sample, offset by ``stride`` rows a sample: (batch*len,)."""
    offsets = torch.arange(batch, device=index.device).view(batch, 1) * stride
    return (offsets + index.view(1, -1)).view(-1)


def _inverse(permutation: torch.Tensor) -> torch.Tensor:
    """The inverse of a permutation of ``0 .. n-1``."""
    inverse = torch.empty_like(permutation)
    inverse[permutation] = torch.arange(len(permutation), device=permutation.device)
    return inverse


def tile_rows(plans: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
               output_index: torch.Tensor, batch: int, nq: int, nk: int, channels: int,
               permutation: bool) -> dict[str, torch.Tensor]:
    """The sparse core's row indices for one batch size, group-major: each head group's tile
    rows for the whole batch form one block, so that one gather serves every group and a
    group's rows are a contiguous slice of it.

    ``plans`` and ``output_index`` as :func:`sparse_core`'s; ``channels``: the values' ``e``;
    ``permutation``: no tile slot is padding, so the query gather and the output placements are
    permutations. Returns a dict: ``query`` (tile rows,) and ``key`` (gathered key rows,), rows
    of the flattened ``(b*h*n, channels)`` queries and keys; ``output`` (b*h*nq,), each
    ``(sample, head, query)`` row's tile row; ``flat`` (b*e*h*nq,), each output entry's place
    in the groups' flattened channels-first tile outputs ``(b, g, nt, e, t)``, the output in
    ``(b, e, h, nq)`` order; with ``permutation``, ``query_inverse`` and, instead of
    ``output`` and ``flat``, their inverses ``output_inverse`` and ``flat_inverse``. In all at
    most about ``(e + 4) * b * h * nq`` 8-byte integers, 2 to 4 times the bytes of the
    attention's output.
    """
    heads = output_index.numel() // nq
    sizes = torch.tensor([p[0].numel() for p in plans], device=output_index.device)
    starts = sizes.cumsum(0) - sizes
    rows = {"query": torch.cat([_rows(p[0], batch, heads * nq) for p in plans]),
            "key": torch.cat([_rows(p[1], batch, heads * nk) for p in plans])}
    # output_index is a row among one sample's groups' rows side by side; group-major, group
    # g's rows of sample s start at batch * start_g + s * size_g
    group = torch.searchsorted(starts + sizes, output_index, right=True)
    local = output_index - starts[group]
    sample = torch.arange(batch, device=output_index.device).view(batch, 1)
    rows["output"] = (batch * starts[group] + sample * sizes[group] + local).view(-1)
    # channels first: entry (s, j, hq) of group g sits at batch * e * start_g (the group's
    # block) + s * e * size_g (the sample) + its tile's e * t entries before + j * t + slot
    tile = torch.tensor([p[2].shape[-1] for p in plans], device=output_index.device)[group]
    e = channels
    channel = torch.arange(e, device=output_index.device).view(1, e, 1)
    rows["flat"] = (batch * e * starts[group] + (local // tile) * e * tile + local % tile
                    + sample.view(batch, 1, 1) * e * sizes[group] + channel * tile).view(-1)
    if permutation:  # the placements use only the inverses: keep the cache small
        rows["query_inverse"] = _inverse(rows["query"])
        rows["output_inverse"] = _inverse(rows.pop("output"))
        rows["flat_inverse"] = _inverse(rows.pop("flat"))
    return rows


#: the softmax skips subtracting each row's maximum when no logit can exceed this in size: exp
#: of it (and of its negative) and the sum of many such stay finite and nonzero in float32
_NO_SHIFT_BOUND = 60.0


def _needs_shift(q: torch.Tensor, k: torch.Tensor) -> bool:
    """Whether the tile softmax must subtract each row's maximum (see :data:`_NO_SHIFT_BOUND`).

    Softmax does not change with a shift, so the shift only guards against exp overflowing (or
    a whole row underflowing). Every logit of ``d`` channels is at most ``d`` times the largest
    query entry times the largest key entry in size (Cauchy-Schwarz, exact for ``d = 1``); when
    that is small, two passes over the logits (the row maxima and the subtraction) are saved.
    Checked on CPU only, where reading the bound back costs no device synchronisation, and for
    float32 and float64; never while ``torch.compile`` or ``torch.export`` traces, where a
    branch on a tensor's value would break the graph (``.item()``) or cannot be exported: the
    traced graph always shifts, which gives the same weights to rounding.
    """
    if (torch.compiler.is_compiling() or q.device.type != "cpu"
            or q.dtype not in (torch.float32, torch.float64)):
        return True
    with torch.no_grad():
        bound = q.shape[-1] * q.abs().amax() * k.abs().amax()
    return not bool(bound < _NO_SHIFT_BOUND)


def sparse_core(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 plans: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                 rows: dict[str, torch.Tensor], return_attention: bool, single: bool
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`_sparse_attention`'s work, with the thread policy ``single`` for the backward.

    ``plans``: each head group's ``(query_index, key_index, blocked)``; ``rows``: their row
    indices for this batch size (:func:`tile_rows`).
    """
    b, h, nq, d = q.shape
    nk, e = k.shape[2], v.shape[3]
    # every gather runs along dim 0 of (sample, head, token)-major rows: its backward (an
    # index_add) is several times faster there on CPU than along an inner dimension
    qf = q.reshape(b * h * nq, d)
    shift = _needs_shift(q, k)
    kf, vf = k.reshape(b * h * nk, d), v.reshape(b * h * nk, e)
    permutation = "query_inverse" in rows
    if permutation:  # one gather for every group, split into the groups' blocks
        qs = _Permute.apply(qf, rows["query"], rows["query_inverse"], single)
    else:
        qs = _Gather.apply(qf, rows["query"], single)
    tiles = [(g, nt, u, t) for g, nt, u, t in (blocked.shape for _, _, blocked in plans)]
    qs = qs.split([b * g * nt * t for g, nt, u, t in tiles])
    splits = [b * g * nt * u for g, nt, u, t in tiles]
    ks = _Gather.apply(kf, rows["key"], single).split(splits)
    vs = _Gather.apply(vf, rows["key"], single).split(splits)
    outs, maps = [], []
    for (_, key_index, blocked), (g, nt, u, t), qt, kt, vt in zip(plans, tiles, qs, ks, vs):
        o, attn = TileAttention.apply(qt.view(b, g, nt, t, d), kt.view(b, g, nt, u, d),
                                       vt.view(b, g, nt, u, e), blocked, single,
                                       shift)  # (b, g, nt, e, t), (b, g, nt, u, t)
        outs.append(o.view(-1))
        if return_attention:
            # padded slots point at key 0 with weight exactly 0: adding them leaves key 0 intact
            slots = (key_index % nk).view(1, g, nt, 1, u).expand(b, g, nt, t, u)
            full = attn.new_zeros(b, g, nt, t, nk).scatter_add(-1, slots, attn.transpose(-1, -2))
            maps.append(full.view(-1, nk))
    # (b, e, h, nq) in memory, the layout the layer's output projection reads
    o = _output(outs, rows, "flat", single).view(b, e, h, nq).permute(0, 2, 3, 1)
    if not return_attention:
        return o, None
    return o, _output(maps, rows, "output", single).view(b, h, nq, nk)


def _output(parts: list[torch.Tensor], rows: dict[str, torch.Tensor], name: str,
            single: bool) -> torch.Tensor:
    """The groups' outputs ``parts`` (group-major) put in order by the index ``rows[name]``."""
    if name + "_inverse" in rows:
        return _Place.apply(rows[name + "_inverse"], single, *parts)
    return _Gather.apply(torch.cat(parts), rows[name], single)
