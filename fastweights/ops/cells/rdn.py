"""The Recurrent Delta Net (RDN): a DeltaNet whose slow net sees the fast net's previous output.

Irie, Schlag, Csordás, Schmidhuber 2021, "Going Beyond Linear Transformers with Recurrent Fast
Weight Programmers" (arXiv:2106.06295), §3; official kernel ``rec_update_fwm_tanh`` in
``IDSIA/recurrent-fwp``. Per head, paper notation::

    s_t = tanh(y_{t-1})
    q_t = softmax(W_q x_t + R_q s_t)        k_t = softmax(W_k x_t + R_k s_t)
    v_t = W_v x_t + R_v s_t                 β_t = σ(w_β x_t + r_β · s_t)
    W_t = W_{t-1} + β_t (v_t − W_{t-1} k_t) ⊗ k_t
    y_t = W_t q_t                            (the query reads after the write)

The feed-forward parts ``W_* x_t`` depend on the current token only and arrive as ``Inputs``
(pre-activation: the softmax and sigmoid act on the sums, inside the step). ``R_q, R_k, R_v,
r_β`` are slow weights acting inside the recurrence (``Params``), one set per head, shared over
the batch. The output is not scaled here (the official layer multiplies it by ``d^{-1/2}``).

Orientation: the fast weight is stored as ``S = Wᵀ`` (``[B, H, D, D]``, ``y = Sᵀ q``), and the
slow recurrent matrices likewise as input × output: ``R_q s`` of the paper is ``s @ R_q`` here,
with ``R_q [H, D_in, D_out]`` (the official kernel's layout).

- ``Inputs`` (one token): ``q, k, v [B, H, D]`` and ``beta [B, H]`` (logit), all pre-activation.
- ``State``: ``S [B, H, D, D]``, ``y [B, H, D]`` (y_{t-1}, before the tanh).
- ``Params``: ``R_q, R_k, R_v [H, D, D]``, ``r_beta [H, D]``.

Forms: ``recurrent`` (the scan over ``step``) and ``fused`` (one stacked slow recurrent map, a
hand-written backward that reverts the fast weight updates; ``fastweights.ops.cells.rdn_fused``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, init_normal, recurrent
from fastweights.ops.cells.rdn_fused import fused_rdn
from fastweights.ops.rules.delta import step as delta_step


class Inputs(NamedTuple):
    """The feed-forward part of the slow net for one token, before any activation."""

    q: Tensor  # [B, H, D]  W_q x_t
    k: Tensor  # [B, H, D]  W_k x_t
    v: Tensor  # [B, H, D]  W_v x_t
    beta: Tensor  # [B, H]  w_β x_t (a logit)


class State(NamedTuple):
    S: Tensor  # [B, H, D, D]  the fast weight, W_tᵀ
    y: Tensor  # [B, H, D]  the previous output y_{t-1}


class Params(NamedTuple):
    """The slow recurrent weights, ``[H, D_in, D_out]`` (applied as ``tanh(y) @ R``)."""

    R_q: Tensor  # [H, D, D]
    R_k: Tensor  # [H, D, D]
    R_v: Tensor  # [H, D, D]
    r_beta: Tensor  # [H, D]


def _check_params(params: object) -> None:
    if not isinstance(params, Params):
        raise TypeError(
            f"rdn: params must be rdn.Params(R_q, R_k, R_v, r_beta), got {type(params).__name__}"
        )


def step(state: State, x_t: Inputs, params: Params) -> tuple[Tensor, State]:
    """One token of the RDN. Returns ``(y_t [B, H, D], state)``."""
    _check_params(params)
    s = torch.tanh(state.y)  # [B, H, D]
    q = torch.softmax(x_t.q + torch.einsum("bhi,hij->bhj", s, params.R_q), dim=-1)
    k = torch.softmax(x_t.k + torch.einsum("bhi,hij->bhj", s, params.R_k), dim=-1)
    v = x_t.v + torch.einsum("bhi,hij->bhj", s, params.R_v)
    beta = torch.sigmoid(x_t.beta + (s * params.r_beta).sum(-1))  # [B, H]
    y, S = delta_step(state.S, q, k, v, beta)
    return y, State(S, y)


@cell_example
def example(
    randn: Sampler, batch: int, length: int, heads: int = 2, d: int = 4
) -> tuple[Inputs, State, Params]:
    """Random pre-activation inputs ``[B, T, H, ·]``, a random state, ``N(0, 1/d)`` params."""
    B, T, H = batch, length, heads
    x = Inputs(q=randn(B, T, H, d), k=randn(B, T, H, d), v=randn(B, T, H, d), beta=randn(B, T, H))
    state = State(S=0.3 * randn(B, H, d, d), y=randn(B, H, d))
    std = d**-0.5  # the official initialisation of the recurrent slow weights
    params = Params(*(std * randn(H, d, d) for _ in range(3)), r_beta=std * randn(H, d))
    return x, state, params


def fused(x: Inputs, state: State, params: Params) -> tuple[Tensor, State]:
    """The fused form (``fastweights.ops.cells.rdn_fused``): memory O(T·D) instead of O(T·D²)."""
    _check_params(params)
    y, S, y_last = fused_rdn(*x, *state, *params)
    return y, State(S, y_last)


def layer_inputs(raw: Tensor) -> Inputs:
    """A layer's slow projection ``raw [..., 3d+1]`` -> ``Inputs``, pre-activation: the softmax
    and sigmoid act inside the step, after adding ``R · tanh(y_{t-1})``."""
    d = (raw.shape[-1] - 1) // 3
    q, k, v, beta = raw.split([d, d, d, 1], dim=-1)
    return Inputs(q, k, v, beta.squeeze(-1))


def layer_params(H: int, d: int, generator: torch.Generator) -> Params:
    """The official reset_rec_parameters: N(0, 1/d) for ``R_q, R_k, R_v`` and ``r_β``."""
    std = d**-0.5
    R_q, R_k, R_v = (init_normal(generator, H, d, d, std=std) for _ in range(3))
    return Params(R_q, R_k, R_v, init_normal(generator, H, d, std=std))


# as a layer: the slow recurrent weights R_q, R_k, R_v, r_β are learned; zero state
LAYER = CellSpec(
    width=lambda d: 3 * d + 1,
    inputs=layer_inputs,
    state=lambda H, d, generator: State(torch.zeros(H, d, d), torch.zeros(H, d)),
    params=layer_params,
    learn_state=False,
)

cell = Cell("rdn", step, {"recurrent": recurrent(step), "fused": fused}, example, layer=LAYER)
