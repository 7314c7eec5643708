"""Spectral normalisation, the one implementation for the attention layer and the models.

torch's spectral norm, without power iterations on the meta device (:class:`_SpectralNorm`), is
what the attention layer's 1x1 convolutions divide by (``sigma`` itself, :func:`sn_conv1x1`). G's
and D's weights are divided by ``max(1, sigma)`` as in the published code (an inequality
constraint, sigma <= 1) or by ``sigma`` (``constraint="equality"``, SN-GAN's rule):
:func:`spectral_norm`, :func:`set_sn_constraint`.

torch's parametrisation swaps a module's class for one made on the fly, which pickle cannot
name, and refuses ``__getstate__``; every module parametrised here is given a ``__reduce_ex__``
that rebuilds it from its plain class and state (:func:`_picklable`), so that ``pickle`` and
``torch.save(model)`` work.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from ifg.errors import check_known

__all__ = ["SN_CONSTRAINTS", "spectral_norm", "set_sn_constraint", "sn_conv1x1"]

SN_CONSTRAINTS = ("inequality", "equality")


class _SpectralNorm(nn.utils.parametrizations._SpectralNorm):
    """torch's spectral norm, without power iterations on the meta device (the memory
    estimate's and the checkpoint checks' models): there are no values to iterate there, and
    torch's Python meta kernels made its 15 start-up iterations cost over a second a model."""

    def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        if not weight_mat.is_meta:
            super()._power_method(weight_mat, n_power_iterations)


def _rebuild(cls: type[nn.Module], state: dict[str, Any]) -> nn.Module:
    """Unpickle a module parametrised here: its plain class, its state, the parametrisations
    registered again (each keeps its pickled weight and buffers)."""
    module = cls.__new__(cls)
    lists = state["_modules"].pop("parametrizations")
    module.__dict__.update(state)
    for name, plist in lists.items():
        module._parameters[name] = plist.original
        for p in plist:  # unsafe: the pickled weight already fits the pickled parametrisation
            parametrize.register_parametrization(module, name, p, unsafe=True)
    return _picklable(module)


def _reduce(self: nn.Module, protocol: int) -> tuple[Any, ...]:
    """``__reduce_ex__`` of a module parametrised here: rebuilt by :func:`_rebuild`."""
    plain = type(self).__bases__[0]  # the class torch's parametrisation derived from
    state = dict(self.__dict__)
    state["_modules"] = dict(state["_modules"])  # _rebuild takes the parametrisations out
    return _rebuild, (plain, state)


def _picklable(module: nn.Module) -> nn.Module:
    """Give a parametrised module's class (torch's own, made for this module) a
    ``__reduce_ex__`` that pickle can follow."""
    type(module).__reduce_ex__ = _reduce  # type: ignore[method-assign,assignment]
    return module


def sn_conv1x1(c_in: int, c_out: int) -> nn.Module:
    """A spectral-normalised 1x1 convolution without bias (SAGAN's projections): torch's
    ``spectral_norm(conv)``, with the same weights, buffers and random draws."""
    conv = nn.Conv2d(c_in, c_out, 1, bias=False)
    nn.init.xavier_uniform_(conv.weight)  # Glorot uniform, as published
    nn.utils.parametrize.register_parametrization(conv, "weight", _SpectralNorm(conv.weight))
    return _picklable(conv)


class _BoundedSpectralNorm(_SpectralNorm):
    """torch's spectral norm (one power iteration per training forward, none on the meta
    device: :class:`_SpectralNorm`), dividing by ``max(1, sigma)`` under the
    inequality constraint and by ``sigma`` under the equality one."""

    def __init__(self, weight: torch.Tensor, *, constraint: str) -> None:
        super().__init__(weight)
        self.constraint = check_known("constraint", constraint, SN_CONSTRAINTS)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        sigma = torch.vdot(u, torch.mv(weight_mat, v))
        return weight / (sigma if self.constraint == "equality" else sigma.clamp(min=1.0))


def spectral_norm(module: nn.Module, *, constraint: str = "inequality") -> nn.Module:
    """Spectral-normalise ``module.weight``: ``W / max(1, sigma)`` or ``W / sigma``.

    The weights are kept in the same places as torch's ``spectral_norm`` keeps them
    (``parametrizations.weight.original``, ``_u``, ``_v``), so state dicts are interchangeable.

    Parameters
    ----------
    module : nn.Module
        A module with a ``weight`` of two or more dimensions, output first (Conv2d, Linear,
        Embedding).
    constraint : {"inequality", "equality"}
        ``"inequality"`` (the published G and D): a weight whose largest singular value
        ``sigma`` is at most 1 is left as it is, a larger one divided by ``sigma``.
        ``"equality"``: always divided by ``sigma`` (SN-GAN; the published attention layer).

    Returns
    -------
    nn.Module
        ``module``, parametrised in place.

    Raises
    ------
    InvalidArgument
        For an unknown constraint.

    Examples
    --------
    >>> lin = nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.diag(torch.tensor([0.5, 0.25])))
    >>> spectral_norm(lin).weight.diagonal()  # sigma = 0.5 <= 1: left as it is
    tensor([0.5000, 0.2500], grad_fn=<DiagonalBackward0>)
    """
    check_known("constraint", constraint, SN_CONSTRAINTS)
    weight = cast(torch.Tensor, module.weight)  # nn.Module's attributes type as Tensor | Module
    parametrize.register_parametrization(
        module, "weight", _BoundedSpectralNorm(weight, constraint=constraint))
    return _picklable(module)


def set_sn_constraint(model: nn.Module, constraint: str) -> nn.Module:
    """Set the constraint of every weight that :func:`spectral_norm` normalises in ``model``.

    The attention layers' 1x1 convolutions (torch's own spectral norm) keep dividing by sigma.

    Parameters
    ----------
    model : nn.Module
    constraint : {"inequality", "equality"}

    Returns
    -------
    nn.Module
        ``model``, changed in place.

    Raises
    ------
    InvalidArgument
        For an unknown constraint.

    Examples
    --------
    >>> lin = set_sn_constraint(spectral_norm(nn.Linear(2, 2)), "equality")
    >>> lin.parametrizations.weight[0].constraint
    'equality'
    """
    check_known("constraint", constraint, SN_CONSTRAINTS)
    for m in model.modules():
        if isinstance(m, _BoundedSpectralNorm):
            m.constraint = constraint
    return model
