"""FlexAttention's interface with a CPU backward: :func:`flex_attention` over any sparse mask.

``torch.nn.attention.flex_attention`` runs on CPU forward only. This module gives the same call,
``flex_attention(query, key, value, block_mask=...)``, a sparse tile path forward and backward on
CPU, and hands the call to torch's own FlexAttention on other devices. The mask may be a torch
``BlockMask``, a ``mask_mod`` callable, an ``ifg`` :class:`~ifg.pattern.Pattern` or a
:class:`~ifg.maskset.MaskSet`.

How it is fast (the tiled sparse backend of :class:`ylg.Attention2d`, generalised):

1. *Reading the mask* (:mod:`ylg.attention.flexmasks`): the ``mask_mod`` is evaluated on index tensors that
   broadcast, ``b (B,1,1,1)``, ``h (1,H,1,1)``, ``q_idx (1,1,c,1)``, ``kv_idx (1,1,1,S)``, a
   chunk of ``c`` query rows at a time (at most ``CHUNK`` entries), so work on query or key
   indices alone is done once per row or column, and the result's shape says whether the mask
   depends on the batch or the head. From a ``BlockMask`` only its partial blocks are evaluated
   (full blocks are all allowed, absent blocks all blocked).
2. *The plan* (:mod:`ylg.attention.flexplan`): the queries in the order of least padded work,
   cut into tiles of ``t`` that each gather the union of their keys, padded per group of tiles.
   Plans are cached per mask (:data:`_PLANS`): a training loop pays once.
3. *The core* (:class:`_FlexTiles`): per tile a ``(t, E) x (E, u)`` product, a masked softmax
   that keeps the log-sum-exp, a ``(t, u) x (u, Ev)`` product; the backward is written out
   (the weights are kept, the key and value gradients are added back with ``index_add_``).
   Work and memory are ``B * H * L * u``; an ``L x S`` matrix is never formed, except when a
   tile's union is every key (a dense mask). Like :class:`ylg.Attention2d`'s sparse core it runs
   on one CPU thread (``ylg.attention.kernels.single_threaded``): its many small operations are each a
   parallel region, where threads wait on descheduled peers on a busy machine.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument
from ylg.attention.flexmasks import (MaskMod, block_mask_rows, mask_mod_rows,
                                     maskset_rows)
from ylg.attention.flexplan import FlexPlan, make_plan
from ylg.attention.kernels import one_thread, single_threaded

__all__ = ["flex_attention"]

#: how many compiled plans are kept (least recently used dropped first)
_CACHE_SIZE = 16

#: the plans: (mask source's id, B, H, L, S, E + Ev) -> (source, plan)
_PLANS: OrderedDict[tuple[Any, ...], tuple[object, FlexPlan]] = OrderedDict()


def _cached_plan(block_mask: Any, B: int, H: int, L: int, S: int, dims: int) -> FlexPlan:
    """The plan of ``block_mask`` for these sizes, compiled on first use."""
    key = (id(block_mask), B, H, L, S, dims)
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is block_mask:
        _PLANS.move_to_end(key)
        return hit[1]
    plan = _compile(block_mask, B, H, L, S, dims)
    _PLANS[key] = (block_mask, plan)
    while len(_PLANS) > _CACHE_SIZE:
        _PLANS.popitem(last=False)
    return plan


def _compile(block_mask: Any, B: int, H: int, L: int, S: int, dims: int) -> FlexPlan:
    """Read any mask source into per-(batch, head) masks and tile them."""
    from ifg.maskset import MaskSet
    from ifg.pattern import Pattern
    from torch.nn.attention.flex_attention import BlockMask

    grid, design = None, None
    if block_mask is None:
        masks, Bm, Hm = [sp.csr_matrix(np.ones((L, S), dtype=bool))], 1, 1
    elif isinstance(block_mask, BlockMask):
        if tuple(block_mask.seq_lengths) != (L, S):
            raise InvalidArgument(f"block_mask was made for (Q_LEN, KV_LEN) = "
                                  f"{tuple(block_mask.seq_lengths)}, but the query and key have "
                                  f"lengths ({L}, {S})")
        masks, Bm, Hm = block_mask_rows(block_mask, B, H)
    elif isinstance(block_mask, (MaskSet, Pattern)):
        masks, grid, design = maskset_rows(block_mask, H)
        if masks[0].shape != (L, S):
            raise InvalidArgument(f"block_mask's masks are {masks[0].shape[0]} x "
                                  f"{masks[0].shape[1]}, but the query and key have lengths "
                                  f"({L}, {S})")
        Bm, Hm = 1, len(masks)
    elif callable(block_mask):
        masks, Bm, Hm = mask_mod_rows(block_mask, B, H, L, S)
    else:
        raise InvalidArgument(f"block_mask must be a BlockMask, a mask_mod, an ifg Pattern or "
                              f"MaskSet, or None, got {type(block_mask).__name__}")
    return make_plan(masks, Bm, Hm, grid, dims, design)


# ---------------------------------------------------------------------------------- the core


#: the softmax skips subtracting each row's maximum when no logit can exceed this in size:
#: exp of it (and of its negative), and sums of many such, stay finite and nonzero in float32
_NO_SHIFT_BOUND = 60.0


def _logit_bound(q: torch.Tensor, k: torch.Tensor, scale: float) -> float:
    """A bound on every logit's size: ``scale`` times the largest query norm times the largest
    key norm (Cauchy-Schwarz). A dimension broadcast by ``expand`` (stride 0) is read once."""
    with torch.no_grad():
        q, k = _distinct(q), _distinct(k)
        return float(q.norm(dim=-1).amax() * k.norm(dim=-1).amax()) * abs(scale)


def _distinct(x: torch.Tensor) -> torch.Tensor:
    """``x`` with each expanded dimension but the last (stride 0, as from ``expand``) cut to one
    entry.

    >>> _distinct(torch.ones(1, 3).expand(5, 3)).shape
    torch.Size([1, 3])
    """
    for d in range(x.dim() - 1):
        if x.stride(d) == 0 and x.shape[d] > 1:
            x = x.narrow(d, 0, 1)
    return x


class _FlexTiles(torch.autograd.Function):
    """Attention of every tile of queries over its gathered keys, with a written-out backward.

    Inputs: q (B, H, L, E), k (B, Hkv, S, E), v (B, Hkv, S, Ev), the plan, the scale. Returns
    o (B, H, L, Ev) and lse (B, H, L) (-inf for a query with no key). The backward keeps the
    weights and the gathered tiles, (B, H, nt, t, u) and (B, H, nt, u, E + Ev): memory in
    proportion to the allowed pairs' padded tiles, never to ``L * S``.
    """

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: FlexPlan,
                scale: float, single: bool) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.single = single
        with one_thread(single):
            return _FlexTiles._forward(ctx, q, k, v, plan, scale)

    @staticmethod
    def _forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: FlexPlan,
                 scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        B, H, L, E = q.shape
        Hkv, Ev = k.shape[1], v.shape[3]
        t = plan.t
        shift = _logit_bound(q, k, scale) >= _NO_SHIFT_BOUND
        q2, k2, v2 = q.reshape(-1, E), k.reshape(-1, E), v.reshape(-1, Ev)
        saved, outs, lses = [], [], []
        for group in plan.groups:
            query, key = plan.row_indices(group, B, H, Hkv)
            n, u = group.keys.shape[2:]
            qt = q2.index_select(0, query).mul_(scale).view(B, H, n, t, E)
            kt = k2.index_select(0, key).view(B, H, n, u, E)
            vt = v2.index_select(0, key).view(B, H, n, u, Ev)
            w = qt @ kt.transpose(-1, -2)  # (B, H, n, t, u)
            if not shift:
                # no shift needed: exp of every gathered logit is finite, then blocked ones are
                # zeroed by a product with the 0/1 mask (cheaper on CPU than a masked_fill)
                w.exp_().mul_(group.allowed(w.dtype))
                total = w.sum(dim=-1, keepdim=True)  # (.., t, 1)
                lse = total.log()  # log 0 = -inf where there is no key
            else:
                # blocked weights are zeroed after exp, not computed as exp(-inf): on CPU exp
                # of an input whose result underflows takes a slow path (ylg.attention.kernels)
                blocked = group.blocked
                top = w.masked_fill(blocked, float("-inf")).amax(dim=-1, keepdim=True)
                top.masked_fill_(top == float("-inf"), 0.0)  # no key: any finite shift
                w.sub_(top).masked_fill_(blocked, 0.0).exp_().masked_fill_(blocked, 0.0)
                total = w.sum(dim=-1, keepdim=True)
                lse = total.log().add_(top)
            w.div_(total.clamp_min(torch.finfo(w.dtype).tiny))  # no key: weights stay 0
            ot = w @ vt  # (B, H, n, t, Ev)
            saved += [qt, kt, vt, w, ot]
            outs.append(ot.view(B, H, n * t, Ev))
            lses.append(lse.view(B, H, n * t))
        output = plan.output_rows(B, H)
        o = _joined(outs).view(-1, Ev).index_select(0, output).view(B, H, L, Ev)
        lse = _joined(lses).view(-1).index_select(0, output).view(B, H, L)
        ctx.save_for_backward(*saved)
        ctx.plan, ctx.scale, ctx.shapes = plan, scale, (q.shape, k.shape, v.shape)
        return o, lse

    @staticmethod
    def backward(ctx: Any, grad_o: torch.Tensor | None, grad_lse: torch.Tensor | None
                 ) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():
            raise InvalidArgument("ylg.flex_attention has no double backward on CPU "
                                  "(backward(create_graph=True) or torch.autograd.grad of a "
                                  "gradient): take the gradient once")
        with one_thread(ctx.single):
            return _FlexTiles._backward(ctx, grad_o, grad_lse)

    @staticmethod
    def _backward(ctx: Any, grad_o: torch.Tensor | None, grad_lse: torch.Tensor | None
                  ) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        plan, scale = ctx.plan, ctx.scale
        q_shape, k_shape, v_shape = ctx.shapes
        B, H, L, E = q_shape
        Hkv, Ev = k_shape[1], v_shape[3]
        t = plan.t
        grad_k = saved[0].new_zeros(B * Hkv * k_shape[2], E)
        grad_v = saved[0].new_zeros(B * Hkv * k_shape[2], Ev)
        grads_q = []
        for i, group in enumerate(plan.groups):
            qt, kt, vt, w, ot = saved[5 * i:5 * i + 5]
            query, key = plan.row_indices(group, B, H, Hkv)
            n, u = group.keys.shape[2:]
            if grad_o is None:
                got = ot.new_zeros(ot.shape)
            else:
                got = grad_o.reshape(-1, Ev).index_select(0, query).view(B, H, n, t, Ev)
            grad_v.index_add_(0, key, (w.transpose(-1, -2) @ got).view(-1, Ev))
            # the softmax backward: w * (grad_w - <grad_o, o>) (+ grad_lse, whose gradient is w)
            dot = (got * ot).sum(dim=-1, keepdim=True)  # (.., t, 1)
            if grad_lse is not None:
                dot = dot - grad_lse.reshape(-1).index_select(0, query).view(B, H, n, t, 1)
            ds = torch.baddbmm(dot.view(-1, t, 1), got.view(-1, t, Ev),
                               vt.view(-1, u, Ev).transpose(-1, -2), beta=-1)
            ds = ds.mul_(w.view(-1, t, u)).view(B, H, n, t, u)
            grads_q.append((ds @ kt).mul_(scale).view(B, H, n * t, E))  # (B, H, n*t, E)
            grad_k.index_add_(0, key, (ds.transpose(-1, -2) @ qt).view(-1, E))
        grad_q = _joined(grads_q).view(-1, E).index_select(0, plan.output_rows(B, H))
        return (grad_q.view(q_shape), grad_k.view(k_shape), grad_v.view(v_shape),
                None, None, None)


def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
    """The groups' per-slot tensors ``(B, H, slots, ...)`` in slot order (no copy for one)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


# ---------------------------------------------------------------------------------- the call


def flex_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   score_mod: Callable[..., torch.Tensor] | None = None,
                   block_mask: Any = None, scale: float | None = None,
                   enable_gqa: bool = False, return_lse: bool = False
                   ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention over a sparse mask with torch's ``flex_attention`` signature, trainable on CPU.

    ``softmax(scale * q k^T + mask) v`` for the pairs the mask allows; a query with no allowed
    key gives 0 (and log-sum-exp ``-inf``), as torch's does.

    Parameters
    ----------
    query : torch.Tensor, (B, Hq, L, E)
    key : torch.Tensor, (B, Hkv, S, E)
    value : torch.Tensor, (B, Hkv, S, Ev)
    score_mod : None
        Not supported (a clear error): fold a bias into the inputs or use torch's function.
    block_mask : BlockMask, callable, ifg Pattern or MaskSet, or None
        The allowed pairs: a torch ``BlockMask`` (its ``mask_mod`` is evaluated within its
        partial blocks only); a ``mask_mod(b, h, q_idx, kv_idx) -> bool tensor`` (evaluated on
        broadcasting index tensors, so it may depend on the batch and the head); an
        ``ifg.Pattern`` (one head per step) or ``ifg.MaskSet`` (one mask per head, or one for
        all); None: every pair (SDPA runs it, unless ``return_lse``). The compiled plan is
        cached per mask object and sizes.
    scale : float, optional
        Default ``1 / sqrt(E)``.
    enable_gqa : bool
        Let ``Hq`` be a multiple of ``Hkv``: query head ``h`` reads key head ``h // (Hq/Hkv)``.
    return_lse : bool
        Also return the log-sum-exp of the scaled logits, (B, Hq, L), natural log.

    Returns
    -------
    output : torch.Tensor, (B, Hq, L, Ev)
    lse : torch.Tensor, (B, Hq, L)
        Only with ``return_lse``.

    Raises
    ------
    InvalidArgument
        For a ``score_mod``, shapes that do not agree, a mask of other lengths, a ``mask_mod``
        that raises, returns a non-boolean or a tensor of the wrong shape, and on a second
        backward (no double backward on CPU).

    Examples
    --------
    >>> def local(b, h, q_idx, kv_idx):
    ...     return (q_idx - kv_idx).abs() <= 2
    >>> q = k = v = torch.randn(1, 2, 16, 8, requires_grad=True)
    >>> out = flex_attention(q, k, v, block_mask=local)
    >>> out.sum().backward()
    >>> tuple(out.shape), tuple(q.grad.shape)
    ((1, 2, 16, 8), (1, 2, 16, 8))
    """
    if score_mod is not None:
        raise InvalidArgument("score_mod is not supported by ylg.flex_attention: express the "
                              "mask as block_mask (a mask_mod) and fold a bias into the inputs")
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise InvalidArgument(f"query, key and value must be 4-D (B, H, L, E), got "
                              f"{query.dim()}-D, {key.dim()}-D and {value.dim()}-D")
    B, Hq, L, E = query.shape
    Bk, Hkv, S, Ek = key.shape
    if (Bk, Hkv, S) != tuple(value.shape[:3]) or Bk != B or Ek != E:
        raise InvalidArgument(f"shapes do not agree: query {tuple(query.shape)}, key "
                              f"{tuple(key.shape)}, value {tuple(value.shape)}")
    if Hq != Hkv and not (enable_gqa and Hq % Hkv == 0):
        raise InvalidArgument(f"query has {Hq} heads and key {Hkv}: set enable_gqa=True with "
                              f"a query head count that is a multiple of the key's")
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    if query.device.type != "cpu":
        return _torch_flex(query, key, value, block_mask, scale, enable_gqa, return_lse)
    if block_mask is None and not return_lse:  # full attention: SDPA is the right kernel
        return F.scaled_dot_product_attention(query, key, value, scale=scale,
                                              enable_gqa=enable_gqa)
    plan = _cached_plan(block_mask, B, Hq, L, S, E + value.shape[3])
    # the thread policy of Attention2d's sparse core: many small operations, each a parallel
    # region, run on one thread (beside other work two threads were up to 10x slower)
    single = single_threaded(query, B * Hq * plan.slots * (E + value.shape[3]))
    out, lse = _FlexTiles.apply(query, key, value, plan, scale, single)
    return (out, lse) if return_lse else out


#: torch's compiled flex_attention and the block masks made for other devices
_TORCH: dict[Any, Any] = {}


def _torch_flex(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, block_mask: Any,
                scale: float, enable_gqa: bool, return_lse: bool) -> Any:
    """torch's (compiled) ``flex_attention`` on a GPU, with the mask made a ``BlockMask``."""
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask
    from torch.nn.attention.flex_attention import flex_attention as torch_flex

    if "flex" not in _TORCH:
        _TORCH["flex"] = torch.compile(torch_flex)
    if block_mask is not None and not isinstance(block_mask, BlockMask):
        B, H, L = query.shape[:3]
        key_ = ("mask", id(block_mask), B, H, L, key.shape[2], str(query.device))
        if key_ not in _TORCH or _TORCH[key_][0] is not block_mask:
            mask_mod = block_mask if callable(block_mask) else \
                _table_mask_mod(block_mask, H, query.device)
            _TORCH[key_] = (block_mask, create_block_mask(mask_mod, B, H, L, key.shape[2],
                                                          device=query.device))
        block_mask = _TORCH[key_][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # return_lse's deprecation
        return _TORCH["flex"](query, key, value, block_mask=block_mask, scale=scale,
                              enable_gqa=enable_gqa, return_lse=return_lse)


def _table_mask_mod(source: Any, H: int, device: torch.device) -> MaskMod:
    """A ``mask_mod`` that reads an ifg Pattern's or MaskSet's masks from a dense table."""
    masks, _, _ = maskset_rows(source, H)
    table = torch.from_numpy(np.stack([m.toarray() for m in masks])).to(device)

    def mask_mod(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor
                 ) -> torch.Tensor:
        return table[h % len(masks), q, kv]

    return mask_mod
