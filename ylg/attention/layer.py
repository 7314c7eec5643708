"""The YLG attention layer: SAGAN-style 2-D self-attention with per-head sparse masks.

:class:`Attention2d` turns a validated mask set (``masks.npz``, :mod:`ifg.maskset`) into PyTorch
attention over a ``(B, C, h, w)`` feature map (SPEC sections 5, 6 and 10). Two backends give the
same answer (the first two exactly to rounding, the third in the forward):

- ``dense``, the reference: full ``(Nq, Nk)`` logits per head, masked positions set to ``-inf``
  before the softmax, exactly as SPEC section 6 reads.
- ``sparse``, the fast path: queries are renumbered in the masks' enumeration order and cut into
  tiles of ``t`` consecutive queries; for each head and tile the union of the keys its queries may
  attend is gathered (padded to the largest union ``u``), and small dense products run with the
  in-tile mask. Work and memory are ``heads * Nq * u``; for the YLG masks in ESA order ``u`` is
  about ``2 sqrt(Nk)`` (a block for step 1, every block end plus the tile for step 2), so the cost
  grows like ``N sqrt(N)``. Any valid mask set works (random masks have large unions: correct,
  just not fast).
- ``flex``, PyTorch's FlexAttention with the masks exported as a ``BlockMask`` (:func:`flex_mask`):
  the route for GPUs; on CPU it runs the forward only.

Heads are concatenated interleaved before the output projection, as in the published code:
channel ``j * heads + h`` holds channel ``j`` of head ``h``.

The tile structure is compiled once, at construction, into non-persistent buffers: they move with
``.to(device)``, and a checkpoint of the layer does not depend on the backend. What the
``state_dict`` does hold, beside the weights, is the masks' fingerprint (``mask_fingerprint``,
:func:`mask_fingerprint`): loading weights into a layer with other masks is refused, and weights
saved before the fingerprint existed load as before. The cores that run
on head-split tensors are in :mod:`ylg.attention.kernels`, the FlexAttention route in
:mod:`ylg.attention.flex`; their public names are re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ifg.errors import InvalidArgument, check_positive_int
from ylg.attention.auto import auto_backend, sparse_pays
from ylg.attention.flex import FlexUnsupported, flex_attend, flex_mask, token_order
from ylg.attention.plan import (TilePlan, best_tile, compile_head, group_heads, layer_order,
                                pad_order)
from ylg.attention.kernels import (dense_attention, one_thread, single_threaded, sparse_core,
                                   tile_rows,
                                   TileAttention)  # noqa: F401 (TileAttention: re-exported)
from ylg.choices import BACKENDS
from ylg.spectral import sn_conv1x1

if TYPE_CHECKING:
    from ifg.maskset import MaskSet

__all__ = ["Attention2d", "BACKENDS", "FlexUnsupported", "flex_mask", "mask_fingerprint"]


def _load_masks(masks: object) -> MaskSet:
    """``masks`` checked to be a MaskSet (a mask file is read by the caller, once)."""
    from ifg.maskset import MaskSet

    if isinstance(masks, MaskSet):
        return masks
    raise InvalidArgument(f"masks must be a MaskSet or None (read a mask file with "
                          f"ifg.io.load), got {type(masks).__name__}")


def mask_fingerprint(masks: MaskSet | None) -> str:
    """The sha256 (hex) of a layer's masks: their grids and each head's canonical boolean CSR
    structure (sorted keys, no explicit False); a dense layer (``None``) has its own.

    Labels (pattern names, enumeration, tiling, groups) are left out: two mask sets with the
    same allowed pairs attend alike, so weights trained with one fit the other.

    Examples
    --------
    >>> from ifg.maskset import preset
    >>> ylg = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    >>> mask_fingerprint(ylg) == mask_fingerprint(preset("ylg", key_grid=(4, 4),
    ...                                                  query_grid=(8, 8)))
    True
    >>> mask_fingerprint(ylg) == mask_fingerprint(None), len(mask_fingerprint(None))
    (False, 64)
    """
    h = hashlib.sha256(b"ylg attention masks\0")
    if masks is None:
        h.update(b"dense")
        return h.hexdigest()
    h.update(np.asarray([*masks.query_grid, *masks.key_grid, masks.num_heads], "<i8").tobytes())
    for m in masks.masks:
        m = sp.csr_matrix(m, dtype=bool, copy=True)
        m.eliminate_zeros()
        m.sum_duplicates()
        m.sort_indices()
        h.update(m.indptr.astype("<i8").tobytes())
        h.update(m.indices.astype("<i8").tobytes())
    return h.hexdigest()


_DENSE = mask_fingerprint(None)


def _digest(fingerprint: str) -> torch.Tensor:
    """A hex sha256 as the 32 bytes of a uint8 tensor (on the CPU, whatever the default)."""
    return torch.tensor(list(bytes.fromhex(fingerprint)), dtype=torch.uint8, device="cpu")


def _described(fingerprint: str) -> str:
    return "none (dense attention)" if fingerprint == _DENSE else fingerprint[:16]


def _check_rows(masks: Sequence[sp.csr_matrix]) -> None:
    """Refuse a head with a query that may attend nothing (softmax over no key)."""
    for h, m in enumerate(masks):
        empty = np.flatnonzero(np.diff(m.indptr) == 0)
        if len(empty):
            raise InvalidArgument(f"head {h} has {len(empty)} query row(s) with no allowed key "
                                  f"(first: query {empty[0]}); every query needs a key")


def _sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      plans: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                      rows: dict[str, torch.Tensor], return_attention: bool
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Tiled attention over each tile's union of keys.

    Shapes as :func:`ylg.attention.kernels.dense_attention`. ``plans`` holds each head group's
    ``(query_index, key_index, blocked)`` (see :class:`TilePlan`); ``rows`` their row indices
    for this batch size (:func:`ylg.attention.kernels.tile_rows`).
    """
    b, h, nq, d = q.shape
    e = v.shape[3]
    work = b * sum(blocked.numel() for _, _, blocked in plans) * (d + e)
    single = single_threaded(q, work)
    with one_thread(single):
        return sparse_core(q, k, v, plans, rows, return_attention, single)


class Attention2d(nn.Module):
    """SAGAN-style self-attention over a 2-D feature map, dense or with per-head sparse masks.

    ``y = x + gamma * W_o(concat_h softmax_masked(q_h k_h^T) v_h)`` with spectral-normed 1x1
    projections without bias, keys and values max-pooled by ``pool`` after their projection,
    unscaled logits, and ``gamma`` starting at 0 (SPEC section 6).

    Parameters
    ----------
    channels : int
        C, the channels of the input and output.
    masks : MaskSet or None
        The layer's masks (:mod:`ifg.maskset`; a mask file is read with :func:`ifg.io.load`).
        Their heads fix the number of heads. None: dense attention (SAGAN).
    heads : int, optional
        Number of heads; defaults to the masks' heads, else 1. Must agree with the masks.
    pool : int
        Max-pooling factor of keys and values (2 in SAGAN; 1 for a square layer). The masks'
        query grid must be their key grid scaled by ``pool``.
    backend : {"auto", "dense", "sparse", "flex"}
        ``dense`` masks full logits (the reference); ``sparse`` gathers each query tile's keys;
        ``flex`` runs PyTorch's FlexAttention with the masks' block mask, its tokens in the
        order with the fewest computed 128 x 128 blocks (``flex_order``; see
        :func:`ylg.attention.flex.token_order`; forward only on CPU, where training with it
        raises :class:`FlexUnsupported`);
        ``auto`` takes dense for masks that allow too many pairs (padded sparse work above 1/4
        of the dense work); otherwise it decides at the first forward on a device kind, for
        that call's size, from the measured table (:mod:`ylg.attention.auto`), and shows the
        choice in ``backend`` (``"auto"`` until then). The answer does not depend on it.
    qk_head_dim, v_head_dim : int, optional
        Channels per head of queries/keys and of values. Default ``C / (8 heads)`` and
        ``C / (2 heads)`` (SPEC: C/8 and C/2 in all); set them to study other head sizes.
    tile : int, optional
        Queries per tile of the sparse backend. Default: for each head, the candidate among
        16 ... 256 and ``(Nq/Nk) * sqrt(Nk)`` (the pattern's block) with the least padded work
        (logits plus gathered keys and values). Heads with one tile size and similar unions run
        as one group.

    Raises
    ------
    InvalidArgument
        For channels the heads do not divide, heads that disagree with the masks, an unknown
        backend, masks whose query grid is not the key grid times ``pool``, a head with a query
        row that allows no key, or ``backend="sparse"`` or ``"flex"`` without masks.
    FlexUnsupported
        On a call that needs the flex backend's gradient on CPU.

    Examples
    --------
    >>> from ifg.maskset import preset
    >>> layer = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    >>> layer.heads, layer.backend
    (8, 'dense')
    >>> y, attn = layer(torch.randn(2, 64, 8, 8), return_attention=True)
    >>> tuple(y.shape), tuple(attn.shape)
    ((2, 64, 8, 8), (2, 8, 64, 16))
    """

    # saved with the weights: the sha256 of the masks (mask_fingerprint), 32 bytes
    mask_fingerprint: torch.Tensor
    # buffers, registered by the backend that needs them (derived from the masks, not saved)
    flex_table: torch.Tensor
    flex_index: torch.Tensor
    # backend "flex": the token order (ifg.blocks.order's first); unless row-major, buffers
    # flex_tokens0..3 hold its TokenOrder.tensors()
    flex_order: str
    output_index: torch.Tensor
    blocked: torch.Tensor
    # backend "auto" (set only then): the device kind it chose for, the dense masks by device
    _auto_device: str | None
    _auto_blocked: dict[str, torch.Tensor]
    # backend "flex": device -> (block_mask, mask_mod)
    _block_masks: dict[str, tuple[Any, Callable[..., torch.Tensor]]]
    # backend "sparse": (batch, e, device) -> the row indices of tile_rows
    _rows_cache: dict[tuple[int, int, str], dict[str, torch.Tensor]]

    def __init__(self, channels: int, masks: MaskSet | None = None, *, heads: int | None = None,
                 pool: int = 2, backend: str = "auto", qk_head_dim: int | None = None,
                 v_head_dim: int | None = None, tile: int | None = None) -> None:
        super().__init__()
        channels = check_positive_int("channels", channels)
        self.pool = check_positive_int("pool", pool)
        if backend not in BACKENDS:
            raise InvalidArgument(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.masks = None if masks is None else _load_masks(masks)
        if self.masks is None:
            self.heads = 1 if heads is None else check_positive_int("heads", heads)
        else:
            self.heads = self.masks.num_heads
            if heads is not None and check_positive_int("heads", heads) != self.heads:
                raise InvalidArgument(f"heads={heads} but the masks have {self.heads} heads")
        self.qk_head_dim = self._head_dim("qk_head_dim", qk_head_dim, channels, 8)
        self.v_head_dim = self._head_dim("v_head_dim", v_head_dim, channels, 2)
        self.channels = channels

        hd, vd = self.heads * self.qk_head_dim, self.heads * self.v_head_dim
        self.query = sn_conv1x1(channels, hd)
        self.key = sn_conv1x1(channels, hd)
        self.value = sn_conv1x1(channels, vd)
        self.out = sn_conv1x1(vd, channels)
        self.gamma = nn.Parameter(torch.zeros(()))
        self.fingerprint = mask_fingerprint(self.masks)
        self.register_buffer("mask_fingerprint", _digest(self.fingerprint))
        self.backend = self._compile(backend, tile)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              local_metadata: dict[str, Any], strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        """Load as torch does, then check the stored masks' fingerprint against this layer's:
        a mismatch is an error naming both; a state without one (saved before masks travelled
        with the weights) is taken as it is."""
        key = prefix + "mask_fingerprint"
        stored = state_dict.get(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if stored is None:
            if key in missing_keys:
                missing_keys.remove(key)
        elif (isinstance(stored, torch.Tensor) and not stored.is_meta
              and stored.shape == (32,) and stored.dtype == torch.uint8):
            theirs = bytes(stored.cpu().tolist()).hex()
            if theirs != self.fingerprint:
                error_msgs.append(
                    f"{prefix.rstrip('.') or 'the layer'}: the weights were saved with masks "
                    f"{_described(theirs)} but this layer's masks are "
                    f"{_described(self.fingerprint)} (sha256 of the masks and their grids, "
                    f"ylg.attention.mask_fingerprint); build the layer with the masks the "
                    f"weights were trained with")
        if not self.mask_fingerprint.is_meta:
            with torch.no_grad():
                self.mask_fingerprint.copy_(_digest(self.fingerprint))  # always this layer's

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the per-device caches (rebuilt on demand; flex's holds closures)."""
        state = self.__dict__.copy()
        for name in ("_rows_cache", "_block_masks", "_auto_blocked"):
            if name in state:
                state[name] = {}
        return state

    def _head_dim(self, name: str, value: int | None, channels: int, share: int) -> int:
        if value is not None:
            return check_positive_int(name, value)
        if channels % (share * self.heads):
            raise InvalidArgument(f"channels={channels} must be divisible by {share} * heads = "
                                  f"{share * self.heads} (or set {name})")
        return channels // (share * self.heads)

    def _compile(self, backend: str, tile: int | None) -> str:
        """Check the masks and turn them into the chosen backend's buffers; return the backend."""
        ms = self.masks
        if ms is None:
            if backend in ("sparse", "flex"):
                raise InvalidArgument(f"backend {backend!r} needs masks; without masks the layer "
                                      f"is dense attention")
            return "dense"
        (hq, wq), (hk, wk), p = ms.query_grid, ms.key_grid, self.pool
        if (hq, wq) != (hk * p, wk * p):
            raise InvalidArgument(f"the masks' query grid {hq}x{wq} is not their key grid "
                                  f"{hk}x{wk} pooled by pool={p}")
        masks = [sp.csr_matrix(m, dtype=bool) for m in ms.masks]
        _check_rows(masks)
        if backend == "flex":  # in the token order with the fewest computed blocks
            tokens = token_order(ms)
            self.flex_order = tokens.enumeration
            table, index = tokens.row_table(masks)
            self.register_buffer("flex_table", torch.from_numpy(table), persistent=False)
            self.register_buffer("flex_index", torch.from_numpy(index), persistent=False)
            if self.flex_order != "rowmajor":  # what flex_attend renumbers by
                for i, tensor in enumerate(tokens.tensors()):
                    self.register_buffer(f"flex_tokens{i}", tensor, persistent=False)
            self._block_masks = {}  # device -> (block_mask, mask_mod), built on first use
            return backend
        if backend != "dense":
            dims = self.qk_head_dim + self.v_head_dim
            if tile is not None:
                tile = check_positive_int("tile", tile)
            order = layer_order(ms, masks, dims, tile)
            # identical heads (the YLG layer repeats each mask twice) are compiled once
            distinct = {}
            for m in masks:
                sig = (m.indptr.tobytes(), m.indices.tobytes())
                if sig not in distinct:
                    t, _ = best_tile(m, order, dims, tile)
                    distinct[sig] = (t, compile_head(m, order, t))
            compiled = [distinct[(m.indptr.tobytes(), m.indices.tobytes())] for m in masks]
            shapes = [(t, keys.shape[1]) for t, (keys, _) in compiled]
            groups = group_heads(shapes)
            if backend == "auto":
                # query-key products the tiles compute (padding included), against dense
                work = sum(len(g) * len(pad_order(order, shapes[g[0]][0]))
                           * max(shapes[h][1] for h in g) for g in groups)
                if not sparse_pays(work, self.heads * ms.nq * ms.nk):
                    backend = "dense"
                else:  # sparse and dense both stand ready; the first forward chooses
                    self._auto_device = None
                    self._auto_blocked = {}
        if backend in ("sparse", "auto"):
            self.plans = nn.ModuleList(
                TilePlan(g, order, [compiled[h][1] for h in g], ms.nq, ms.nk) for g in groups)
            # (head, query) -> its row among the groups' concatenated tile rows
            position = np.empty((self.heads, ms.nq), dtype=np.int64)
            offset = 0
            for plan in cast(Iterable[TilePlan], self.plans):  # ModuleList yields Module
                rows = plan.query_index.numpy()
                position.flat[rows] = offset + np.arange(len(rows))  # a padding copy of a query
                offset += len(rows)  # computes the same row as the query: either may stand
            self.register_buffer("output_index", torch.from_numpy(position.ravel()),
                                 persistent=False)
            # no padded tile slot: the query gather and the output placement are permutations
            self._permutation = offset == self.heads * ms.nq
            self._rows_cache = {}  # (batch, e, device) -> the row indices of tile_rows
        else:
            blocked = ~np.stack([m.toarray() for m in masks])  # (heads, nq, nk)
            self.register_buffer("blocked", torch.from_numpy(blocked), persistent=False)
        return backend

    def _check_grid(self, h: int, w: int) -> None:
        p = self.pool
        if self.masks is None:
            if h % p or w % p:
                raise InvalidArgument(f"the feature map {h}x{w} cannot be max-pooled by "
                                      f"pool={p}")
            return
        (hq, wq), (hk, wk) = self.masks.query_grid, self.masks.key_grid
        if (h, w) != (hq, wq):
            raise InvalidArgument(f"the masks are for a {hq}x{wq} feature map (keys {hk}x{wk} "
                                  f"after pool {p}), but the feature map is {h}x{w}")

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
               return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The attention core on head-split tensors, with this layer's backend and masks.

        Parameters
        ----------
        q : torch.Tensor, (b, heads, Nq, d)
        k : torch.Tensor, (b, heads, Nk, d)
        v : torch.Tensor, (b, heads, Nk, e)
        return_attention : bool

        Returns
        -------
        o : torch.Tensor, (b, heads, Nq, e)
        attention : torch.Tensor (b, heads, Nq, Nk), or None unless ``return_attention``
        """
        blocked = getattr(self, "blocked", None)
        if hasattr(self, "_auto_device"):
            blocked = self._auto_choose(q)
        if self.backend == "sparse":
            plans = [(p.query_index, p.key_index, p.blocked)
                     for p in cast(Iterable[TilePlan], self.plans)]  # ModuleList yields Module
            return _sparse_attention(q, k, v, plans, self._rows(plans, q, v.shape[3]),
                                     return_attention)
        if self.backend == "flex":
            tokens = None if self.flex_order == "rowmajor" else tuple(
                getattr(self, f"flex_tokens{i}") for i in range(4))
            return flex_attend(q, k, v, self.flex_table, self.flex_index, self._block_masks,
                               return_attention, tokens)
        return dense_attention(q, k, v, blocked, return_attention)

    def _rows(self, plans: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
              q: torch.Tensor, e: int) -> dict[str, torch.Tensor]:
        """The sparse core's row indices for ``q``'s batch size and device and ``e`` value
        channels, built once each."""
        key = (q.shape[0], e, str(q.device))
        if key not in self._rows_cache:
            assert self.masks is not None
            if len(self._rows_cache) >= 4:  # a few batch sizes are in use at a time
                self._rows_cache.clear()
            self._rows_cache[key] = tile_rows(plans, self.output_index, q.shape[0],
                                               self.masks.nq, self.masks.nk, e,
                                               self._permutation)
        return self._rows_cache[key]

    def _auto_choose(self, q: torch.Tensor) -> torch.Tensor | None:
        """``auto``: choose the backend on the first call on a device kind (for this call's
        size); return the dense backend's mask on ``q``'s device when dense is chosen."""
        if self._auto_device != q.device.type:
            assert self.masks is not None
            self.backend = auto_backend(q.device.type, batch=q.shape[0], heads=self.heads,
                                        nq=self.masks.nq, nk=self.masks.nk)
            self._auto_device = q.device.type
        if self.backend != "dense":
            return None
        key = str(q.device)
        if key not in self._auto_blocked:  # built on demand: large where sparse is chosen
            assert self.masks is not None
            self._auto_blocked[key] = torch.from_numpy(~self.masks.to_dense()).to(q.device)
        return self._auto_blocked[key]

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend over ``x``.

        Parameters
        ----------
        x : torch.Tensor, (B, C, h, w)
        return_attention : bool
            Also return the attention maps.

        Returns
        -------
        y : torch.Tensor, (B, C, h, w)
        attention : torch.Tensor, (B, heads, h*w, h*w/pool^2)
            Only with ``return_attention``; row q is query q (row-major), column k key k on the
            pooled grid (row-major); masked entries are exactly 0.
        """
        b, c, h, w = x.shape
        self._check_grid(h, w)
        nh, d, e = self.heads, self.qk_head_dim, self.v_head_dim
        q = self.query(x)  # (b, nh*d, h, w)
        k, v = self.key(x), self.value(x)
        if self.pool > 1:
            k, v = F.max_pool2d(k, self.pool), F.max_pool2d(v, self.pool)
        nq, nk = h * w, k.shape[2] * k.shape[3]
        q = q.view(b, nh, d, nq).transpose(-1, -2)  # (b, nh, nq, d)
        k = k.reshape(b, nh, d, nk).transpose(-1, -2)  # (b, nh, nk, d)
        v = v.reshape(b, nh, e, nk).transpose(-1, -2)  # (b, nh, nk, e)
        o, attn = self.attend(q, k, v, return_attention=return_attention)
        # heads concatenated interleaved, as published: channel j*nh + i holds channel j of head i
        o = o.permute(0, 3, 1, 2).reshape(b, e * nh, h, w)  # (b, e, nh, nq) -> (b, nh*e, h, w)
        y = x + self.gamma * self.out(o)
        if not return_attention:
            return y
        assert attn is not None
        return y, attn

    def extra_repr(self) -> str:
        grids = ("" if self.masks is None else
                 f", query_grid={self.masks.query_grid}, key_grid={self.masks.key_grid}")
        return (f"{self.channels}, heads={self.heads}, pool={self.pool}, "
                f"qk_head_dim={self.qk_head_dim}, v_head_dim={self.v_head_dim}, "
                f"backend={self.backend!r}{grids}")
