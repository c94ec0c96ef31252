"""Continuous-time fast weight programmers: a learning rule as a vector field, solved as an ODE.

Irie, Faccio, Schmidhuber, "Neural Differential Equations for Learning to Program Neural Nets
Through Continuous Learning Rules", NeurIPS 2022, arXiv:2206.01649. A discrete rule
``S_t = S_{t-1} + f(S_{t-1}, x_t)`` becomes ``dS/dt = f(S(t), x(t))`` where ``x(t)`` is a
control path through irregularly timed observations and ``k(t), v(t), β(t)`` are computed from
``x(t)`` by the caller's ``project`` (the slow net). In the layout of ``fastweights.ops``
(``S = Wᵀ``, ``[B, H, K, V]``):

    sum (Hebb):  dS/dt = β k vᵀ                    (paper: dW/dt = β v ⊗ k)
    delta:       dS/dt = β k (v − Sᵀk)ᵀ            (paper: dW/dt = β (v − W k) ⊗ k)
    oja:         dS/dt = β (k − S v) vᵀ            (paper: dW/dt = β v ⊗ (k − Wᵀ v))

This is the ODE form with the path evaluated inside the field (``x(t)``); with
``derivative=True`` the slow net also reads ``dX/dt``, which gives the CDE variants in which the
values (or keys) come from the path's derivative (as in neural CDEs, ``dS = F(S) dX(t)``: for the
sum rule with ``v = A dX/dt`` exactly ``dS = β k (A dX)ᵀ``; ``docs/continuous-fwp.md``). The
control path is piecewise linear between the observations (``LinearPath``), held constant outside
them.

**Discrete equivalence.** Euler with unit steps on observations at times ``0, 1, ..., T`` gives
``S(i + 1) = S(i) + f(S(i), x_i)``: the state at time ``T`` equals ``T`` steps of the discrete
rule (``RULES["delta"]`` etc.) on the first ``T`` observations (tested).

Solvers come from ``torchdiffeq`` (the ``ode`` extra, imported when ``solve`` runs): fixed-step
``euler``, ``rk4`` (``step_size``) and adaptive ``dopri5`` (``rtol``, ``atol``), with
``adjoint=True`` for the adjoint method (memory constant in the number of solver steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

Projection = Callable[..., tuple[Tensor, Tensor, Tensor]]  # x [B, C] (, dx/dt) -> k, v, beta


def field_sum(S: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """``β k vᵀ``: ``S [B,H,K,V]``, ``k [B,H,K]``, ``v [B,H,V]``, ``beta [B,H]``."""
    return beta[..., None, None] * k[..., :, None] * v[..., None, :]


def field_delta(S: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """``β k (v − Sᵀk)ᵀ``: the value stored for ``k`` moves towards ``v``."""
    retrieved = (k.unsqueeze(-2) @ S).squeeze(-2)  # [B, H, V]
    return beta[..., None, None] * k[..., :, None] * (v - retrieved)[..., None, :]


def field_oja(S: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """``β (k − S v) vᵀ`` (paper: ``β v ⊗ (k − Wᵀv)``): Hebb with a forgetting term."""
    back = (S @ v.unsqueeze(-1)).squeeze(-1)  # [B, H, K]
    return beta[..., None, None] * (k - back)[..., :, None] * v[..., None, :]


FIELDS: dict[str, Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]] = {
    "sum": field_sum,
    "delta": field_delta,
    "oja": field_oja,
}
METHODS = ("euler", "rk4", "dopri5")


class LinearPath:
    """The piecewise-linear path through ``values [B, N, C]`` at ``times [B, N]`` (increasing
    per row; rows may have different times), constant before the first and after the last."""

    def __init__(self, times: Tensor, values: Tensor) -> None:
        if values.ndim != 3 or times.shape != values.shape[:2]:
            raise ValueError(
                f"expected times [B, N] and values [B, N, C], got {tuple(times.shape)} and "
                f"{tuple(values.shape)}"
            )
        if times.shape[1] < 1:
            raise ValueError("a path needs at least one observation")
        if times.shape[1] > 1 and not bool((times[:, 1:] > times[:, :-1]).all()):
            raise ValueError("observation times must increase strictly along each row")
        self.times, self.values = times.contiguous(), values

    def __call__(self, t: Tensor | float) -> Tensor:
        """``x(t)``: ``[B, C]``."""
        times, values = self.times, self.values
        t = torch.as_tensor(t, dtype=times.dtype, device=times.device)
        if times.shape[1] == 1:
            return values[:, 0]
        query = t.expand(times.shape[0], 1).contiguous()  # [B, 1]
        right = torch.searchsorted(times, query).clamp(1, times.shape[1] - 1)  # [B, 1]
        t0, t1 = times.gather(1, right - 1), times.gather(1, right)  # [B, 1]
        w = ((query - t0) / (t1 - t0)).clamp(0.0, 1.0).to(values.dtype)  # [B, 1]
        index = right[..., None].expand(-1, -1, values.shape[2])  # [B, 1, C]
        x0, x1 = values.gather(1, index - 1), values.gather(1, index)  # [B, 1, C]
        return (x0 + w[..., None] * (x1 - x0)).squeeze(1)

    def derivative(self, t: Tensor | float) -> Tensor:
        """``dX/dt`` at ``t``: ``[B, C]``, the slope of the piece that starts at or before ``t``
        (right-continuous: at an observation, the slope towards the next one), 0 outside the
        observations. Euler from ``t_i`` to ``t_{i+1}`` then steps by ``x_{i+1} − x_i``."""
        times, values = self.times, self.values
        t = torch.as_tensor(t, dtype=times.dtype, device=times.device)
        query = t.expand(times.shape[0], 1).contiguous()  # [B, 1]
        if times.shape[1] == 1:
            return torch.zeros_like(values[:, 0])
        right = torch.searchsorted(times, query, right=True)  # [B, 1]: first time > t
        inside = (right >= 1) & (right <= times.shape[1] - 1)  # [B, 1]
        right = right.clamp(1, times.shape[1] - 1)
        t0, t1 = times.gather(1, right - 1), times.gather(1, right)  # [B, 1]
        index = right[..., None].expand(-1, -1, values.shape[2])  # [B, 1, C]
        slope = (values.gather(1, index) - values.gather(1, index - 1)) / (t1 - t0)[..., None]
        return (slope * inside[..., None].to(values.dtype)).squeeze(1)


def _odeint(adjoint: bool) -> Any:
    try:
        import torchdiffeq
    except ImportError as error:
        raise ImportError(
            "continuous-time FWPs need torchdiffeq: pip install fastweights[ode]"
        ) from error
    return torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint


def solve(
    rule: str,
    project: Projection,
    path: LinearPath,
    initial_state: Tensor,
    times: Tensor,
    *,
    method: str = "rk4",
    step_size: float | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    adjoint: bool = False,
    adjoint_params: Sequence[Tensor] | None = None,
    derivative: bool = False,
) -> Tensor:
    """``S(t)`` at every ``times [N]`` (increasing; ``times[0]`` is where ``initial_state
    [B,H,K,V]`` holds) for ``dS/dt = FIELDS[rule](S, *project(path(t)))``: ``[N, B, H, K, V]``.

    ``euler``/``rk4`` take ``step_size`` (None: one step per interval of ``times``); ``dopri5``
    takes ``rtol``/``atol``. ``adjoint=True`` needs ``adjoint_params``, the parameters the field
    depends on (e.g. ``project``'s), since ``project`` need not be a module. ``derivative=True``
    calls ``project(x(t), dX/dt(t))`` (``path.derivative``): the slow net also reads how fast the
    input changes, e.g. values from ``dX/dt`` as in the CDE variants."""
    if rule not in FIELDS:
        raise ValueError(f"unknown rule {rule!r}; expected one of {sorted(FIELDS)}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if initial_state.ndim != 4:
        raise ValueError(f"expected a state [B, H, K, V], got {tuple(initial_state.shape)}")
    if adjoint and adjoint_params is None:
        raise ValueError("adjoint=True needs adjoint_params (the parameters of project)")
    field = FIELDS[rule]

    def vector_field(t: Tensor, S: Tensor) -> Tensor:
        if derivative:
            k, v, beta = project(path(t), path.derivative(t))
        else:
            k, v, beta = project(path(t))
        return field(S, k, v, beta)

    options: dict[str, Any] = {}
    if method in ("euler", "rk4") and step_size is not None:
        options["options"] = {"step_size": step_size}
    if method == "dopri5":
        options.update(rtol=rtol, atol=atol)
    if adjoint:
        options["adjoint_params"] = tuple(adjoint_params or ())
    odeint = _odeint(adjoint)
    return odeint(vector_field, initial_state, times, method=method, **options)
