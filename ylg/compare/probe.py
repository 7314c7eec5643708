"""The probe: a small network whose only attention is the mask set under test.

One masked attention layer per mask step, each followed by a pointwise MLP. There is no residual
around the attention (unless asked for: then each layer's graph also has the identity edges),
and a query is computed from its position alone (not from the token's state: a query that
carried the token's state would move information from q to q through the attention weights, an
identity edge the IFG does not have). So position q sees position k only through the masks: the
probe's information flow is exactly the information-flow graph of
:attr:`ylg.compare.items.Probe.pattern` (the MLP and the layer norms act on one position at a time
and add no edge).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from ifg.pattern import Pattern

__all__ = ["MaskedAttention", "ProbeNet", "SPARSE_BELOW", "gather_rows"]

#: masks allowing less than this share of the (query, key) pairs attend through the tiled core
#: (fwd+bwd 2.6x faster than SDPA for a 5x5 neighbourhood at 16x16, 6.3x for 7x7 at 32x32:
#: benchmarks/bench_probe_attention.py)
SPARSE_BELOW = 0.25

#: the tiled core's work per (query, key) pair of the masks, against SDPA's per pair it computes:
#: its tiles' padding (ylg at 16x16 plans 47 slots a query for 12.7 keys) and gathers
_TILED_OVERHEAD = 4.0

#: a gathered layer's work per (query, key) pair, against its multiply-adds (reading the pair's
#: bias, the softmax): set so that the rule gathers where it measured faster and not where it
#: measured slower (benchmarks/bench_probe_gather.py: at 32x32, gathering axial's and YLG's
#: first layers made a step slower; at 16x16, YLG's, Swin's and sliding tiles' faster)
_GATHERED_OVERHEAD = 3.0


def gather_rows(t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``t`` (batch, N, ...) at the positions ``rows`` (batch, m): (batch, m, ...).

    >>> gather_rows(torch.arange(6).view(2, 3), torch.tensor([[2], [0]])).tolist()
    [[2], [3]]
    """
    index = rows.view(*rows.shape, *(1,) * (t.dim() - 2)).expand(*rows.shape, *t.shape[2:])
    return t.gather(1, index)


class MaskedAttention(nn.Module):
    """Multi-head attention over N tokens where head h attends only where ``masks[h]`` is True.

    Parameters
    ----------
    dim : int
        Token width.
    masks : torch.Tensor, bool, (heads, N, N)
        ``masks[h, q, k]``: query q of head h may attend key k. A query whose row is empty
        outputs zeros (it receives nothing).

    grid : tuple (h, w), optional
        The token grid (the sparse path tiles 2-D windows on it).
    order : numpy.ndarray, optional
        The query order the masks were designed in (:attr:`ylg.compare.items.Probe.order`): the
        sparse path also considers tiles in it. Speed only: the attention is the same.

    Called as ``attn(x, queries)``: keys and values from the tokens ``x`` (batch, N, dim), queries
    from ``queries`` (N, dim), the same for every example. Masks that allow less than
    :data:`SPARSE_BELOW` of the pairs run through :func:`ylg.flex_attention` (the tiled core,
    forward and backward, never an N x N matrix); the others through SDPA with the masks as an
    additive bias. Both compute the same attention, to rounding.

    Examples
    --------
    >>> m = torch.eye(4, dtype=torch.bool)[None]
    >>> MaskedAttention(8, m)(torch.randn(2, 4, 8), torch.randn(4, 8)).shape
    torch.Size([2, 4, 8])
    """

    bias: torch.Tensor  # (heads, N, N) buffers, registered in __init__
    pattern: Pattern | None  # the masks as one step per head, when sparse
    keep: torch.Tensor  # (heads, N, 1)

    def __init__(self, dim: int, masks: torch.Tensor, grid: tuple[int, int] | None = None,
                 order: np.ndarray | None = None) -> None:
        super().__init__()
        self.heads = masks.shape[0]
        self.head_dim = math.ceil(dim / self.heads)
        inner = self.heads * self.head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.kv = nn.Linear(dim, 2 * inner, bias=False)
        self.out = nn.Linear(inner, dim)
        masks = masks.bool()
        empty = ~masks.any(-1, keepdim=True)  # (heads, N, 1): rows that attend nothing
        bias = torch.zeros(masks.shape).masked_fill_(~(masks | empty), float("-inf"))
        self.register_buffer("bias", bias, persistent=False)
        self.register_buffer("keep", (~empty).float(), persistent=False)
        #: every pair allowed: SDPA runs without a mask, on its fused kernel (forward and
        #: backward 1.4x faster than with a zero bias at 16x16, 1.9x at 32x32:
        #: benchmarks/bench_probe_paths.py)
        self.full = bool(masks.all())
        self.pattern = None
        n = masks.shape[-1]
        #: multiply-adds a query's attention costs, every position computed (SDPA computes all N
        #: keys of every head; the tiled core its keys, padded)
        self.work_per_query = 2 * inner * n
        if float(masks.float().mean()) < SPARSE_BELOW:
            self.work_per_query = int(2 * self.head_dim * _TILED_OVERHEAD * masks.sum() / n)
            import scipy.sparse as sp

            from ifg.pattern import Pattern

            # one step per head: flex_attention reads it as the heads' masks (its plan is
            # compiled once per batch size and cached by this object)
            self.pattern = Pattern(tuple(sp.csr_matrix(m.numpy()) for m in masks), grid=grid,
                                   rank=None if order is None else np.argsort(order))

    def _heads(self, t: torch.Tensor, parts: int = 1) -> torch.Tensor:
        """(..., m, parts * heads * head_dim) -> (parts, ..., heads, m, head_dim)."""
        *lead, m, _ = t.shape
        return t.view(*lead, m, parts, self.heads, self.head_dim).movedim(-3, 0).transpose(-3, -2)

    def _merge(self, y: torch.Tensor) -> torch.Tensor:
        """The heads' outputs (batch, heads, m, head_dim) through the output projection."""
        return self.out(y.transpose(1, 2).flatten(2))

    def forward(self, x: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        k, v = self._heads(self.kv(x), 2)
        q = self._heads(self.q(queries))[0][None]
        if self.pattern is not None and x.device.type == "cpu":
            from ylg.attention.flexcpu import flex_attention

            y = cast(torch.Tensor, flex_attention(q.expand(b, -1, -1, -1), k, v,
                                                  block_mask=self.pattern))
        elif self.full:
            y = F.scaled_dot_product_attention(q.expand(b, -1, -1, -1), k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias) * self.keep
        return self._merge(y)

    def gathered(self, x: torch.Tensor, queries: torch.Tensor, qi: torch.Tensor,
                 ki: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """The attention's output at some queries only, from some keys only.

        ``x`` (batch, m_k, dim) are the tokens at the distinct positions ``ki`` (batch, m_k);
        ``queries`` (batch, m_q, dim) are the query sources at positions ``qi`` (batch, m_q).
        Every key a query at ``qi`` may attend must be among ``ki`` (others there are harmless:
        a query attends only its masks' keys): then the result is :meth:`forward`'s at ``qi``
        (to rounding), at the cost of m_q x m_k pairs instead of N x N. Queries where ``pad``
        (batch, m_q) is True only pad: they attend every key (finite values that are never
        read, where their own keys may be missing).
        """
        (b, mq), mk = qi.shape, ki.shape[1]
        k, v = self._heads(self.kv(x), 2)
        q = self._heads(self.q(queries))[0]
        n = self.bias.shape[-1]
        pairs = (qi[:, :, None] * n + ki[:, None, :]).view(-1)  # (query, key) as one index
        bias = self.bias.view(self.heads, -1).index_select(1, pairs).to(q.dtype)
        bias = bias.view(self.heads, b, mq, mk).transpose(0, 1)  # (batch, heads, m_q, m_k)
        if pad is not None:  # (an all -inf row is NaN in some torch versions' SDPA)
            bias.masked_fill_(pad[:, None, :, None], 0.0)
        keep = self.keep[:, qi].transpose(0, 1)  # (batch, heads, m_q, 1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias) * keep
        return self._merge(y)


class ProbeNet(nn.Module):
    """Embedding, per layer ``x = attn(norm(x), p); x = x + mlp(norm(x))``, then a linear head.

    With ``residual``, ``x = x + attn(norm(x), p)`` instead: a position also keeps what it had,
    so a layer's information-flow graph is its masks plus the identity (the stacks of today's
    vision transformers; deep stacks train, where without it they start from the inputs averaged
    away, layer after layer).

    ``p`` is the position embedding (learned, plus Fourier features of the grid position); it is
    added to the input tokens and is the attention's query source.

    Parameters
    ----------
    embed : nn.Module
        The task's input embedding: its input to ``(batch, N, dim)``.
    masks : torch.Tensor, bool, (layers, heads, N, N)
        :meth:`ylg.compare.items.Probe.dense` as a tensor.
    dim : int
    out_features : int
        Outputs per token.
    grid : tuple (h, w), optional
        The token grid: each token's position embedding also gets Fourier features of its
        (row, column), so that 2-D nearness is easy to learn. Default: one row.
    order : numpy.ndarray, optional
        The masks' design order, for the attention's speed (see :class:`MaskedAttention`).
    residual : bool
        A residual path around each attention layer.

    Called as ``net(inputs)``: the outputs at every position, (batch, N, out_features). Called as
    ``net(inputs, rows)`` with ``rows`` (batch, m) positions: the outputs at those positions only,
    (batch, m, out_features), equal to ``gather_rows(net(inputs), rows)`` to rounding. The last
    layers then compute only what those outputs depend on: a wanted position's keys, layer by
    layer back, while that costs less than computing every position (:meth:`worth_gathering`; an
    inpainting task reads 16 of 256 positions: the last layer computes 16 queries, and a local
    mask's first layer their few dozen keys).

    Examples
    --------
    >>> masks = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    >>> net = ProbeNet(nn.Embedding(3, 8), masks, dim=8, out_features=3)
    >>> net(torch.zeros(5, 4, dtype=torch.long)).shape
    torch.Size([5, 4, 3])
    >>> net(torch.zeros(5, 4, dtype=torch.long), torch.zeros(5, 1, dtype=torch.long)).shape
    torch.Size([5, 1, 3])
    """

    reach: torch.Tensor  # (layers, N, N) 0/1 floats: query q of layer l reads key k in some head

    def __init__(self, embed: nn.Module, masks: torch.Tensor, *, dim: int, out_features: int,
                 grid: tuple[int, int] | None = None, order: np.ndarray | None = None,
                 residual: bool = False) -> None:
        super().__init__()
        n = masks.shape[-1]
        self.residual = bool(residual)
        h, w = grid or (1, n)
        self.embed = embed
        self.position = nn.Parameter(torch.randn(n, dim) * 0.02)
        r, c = torch.arange(n).div(w, rounding_mode="floor") / h, torch.arange(n) % w / w
        f = torch.arange(1, 5) * math.pi
        angles = torch.cat([r[:, None] * f, c[:, None] * f], dim=1)
        fourier = torch.cat([angles.sin(), angles.cos()], 1)
        self.register_buffer("fourier", fourier, persistent=False)
        self.coords = nn.Linear(fourier.shape[1], dim, bias=False)
        self.attn = nn.ModuleList(MaskedAttention(dim, m, grid, order) for m in masks)
        self.norm1 = nn.ModuleList(nn.LayerNorm(dim) for _ in masks)
        self.norm2 = nn.ModuleList(nn.LayerNorm(dim) for _ in masks)
        self.normq = nn.ModuleList(nn.LayerNorm(dim) for _ in masks)
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(),
                                               nn.Linear(2 * dim, dim)) for _ in masks)
        self.final = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_features)
        reach = masks.bool().any(1)
        if self.residual:
            reach |= torch.eye(n, dtype=torch.bool)
        self.register_buffer("reach", reach.float(), persistent=False)  # for needed()'s products

    def needed(self, rows: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The positions the outputs at ``rows`` depend on, per layer output going back from the
        last (``rows`` itself), as ``(index, pad)`` (batch, m): distinct positions, the needed
        ones first, then (``pad`` True) unneeded ones up to the batch's largest count m. The
        list ends with the keys of the earliest layer worth computing at its wanted positions
        only (:meth:`worth_gathering`), or at the embedding's."""
        b, n = rows.shape[0], self.reach.shape[-1]
        need = torch.zeros(b, n, dtype=torch.bool, device=rows.device)
        need.scatter_(1, rows, True)
        sets = [(rows, torch.zeros(rows.shape, dtype=torch.bool, device=rows.device))]
        for i in reversed(range(len(self.attn))):
            keys = (need.to(self.reach.dtype) @ self.reach[i]) > 0
            count = keys.sum(1, keepdim=True)
            m = max(1, int(count.max()))  # an attention needs a key, if only a pad
            if not self.worth_gathering(i, sets[-1][0].shape[1], m):
                break
            need = keys
            index = torch.sort((~need).byte(), dim=1, stable=True).indices[:, :m]
            sets.append((index, torch.arange(m, device=rows.device) >= count))
        return sets

    def worth_gathering(self, layer: int, queries: int, keys: int) -> bool:
        """Whether layer ``layer`` costs less computed at ``queries`` positions over ``keys`` (in
        SDPA with a bias, every pair) than at every position (its own path), in multiply-adds
        per example: the projections and the MLP of a query, the keys' and values' of a key,
        and the attention's pairs. Speed only: either way gives the same outputs."""
        attn = cast(MaskedAttention, self.attn[layer])
        d, inner, n = self.position.shape[1], attn.heads * attn.head_dim, self.reach.shape[-1]
        query_rows, key_rows = 2 * d * inner + 4 * d * d, 2 * d * inner
        gathered = (queries * query_rows + keys * key_rows
                    + _GATHERED_OVERHEAD * 2 * inner * queries * keys)
        return gathered < n * (query_rows + key_rows + attn.work_per_query)

    def forward(self, inputs: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        p = self.position + self.coords(self.fourier)
        x = self.embed(inputs) + p
        # the last len(chain) - 1 layers compute only their wanted positions: layer `first + j`
        # reads chain[j] and writes chain[j + 1]; the layers before them every position
        chain = self.needed(rows)[::-1] if rows is not None else []
        first = len(self.attn) - max(0, len(chain) - 1)
        layers = zip(self.attn, self.norm1, self.norm2, self.normq, self.mlp)
        for i, (attn, n1, n2, nq, mlp) in enumerate(layers):
            if i < first:
                y = attn(n1(x), nq(p))  # without the residual, only along the masks
            else:
                (ki, _), (qi, pad) = chain[i - first], chain[i - first + 1]
                if i == first:  # the keys from the full previous layer
                    x = gather_rows(x, ki)
                y = cast(MaskedAttention, attn).gathered(n1(x), nq(p)[qi], qi, ki, pad)
                if self.residual:  # the queries' own tokens, among the keys (identity edges;
                    # a padding query may have none there: its output is never attended)
                    slot = torch.zeros(ki.shape[0], self.reach.shape[-1], dtype=torch.long,
                                       device=ki.device)
                    slot.scatter_(1, ki, torch.arange(ki.shape[1], device=x.device).expand_as(ki))
                    x = gather_rows(x, slot.gather(1, qi))
            x = x + y if self.residual else y
            x = x + mlp(n2(x))
        if rows is not None and first == len(self.attn):
            x = gather_rows(x, rows)
        return self.head(self.final(x))
