"""The Delta-Delta Net: a DeltaNet whose outputs program a second DeltaNet.

Irie, Schlag, Csordás, Schmidhuber 2021, "Going Beyond Linear Transformers with Recurrent Fast
Weight Programmers" (arXiv:2106.06295), §3; official layer ``CudaDeltaDeltaLayer``
(``--attn_type 64``) in ``IDSIA/recurrent-fwp``. The slow net programs a first fast net ``W``
whose outputs are the query, key, value and rate of a second fast net ``V``. Per head, paper
notation, with ``φ(x) = sum_norm(elu(x) + 1)``::

    W_t = W_{t-1} + β_t (v_t − W_{t-1} k_t) ⊗ k_t            (v_t ∈ R^{3D+1})
    [q̃_t, k̃_t, ṽ_t, b̃_t] = W_t q_t                           (split D, D, D, 1)
    V_t = V_{t-1} + σ(b̃_t) (ṽ_t − V_{t-1} φ(k̃_t)) ⊗ φ(k̃_t)
    y_t = V_t φ(q̃_t)

``q_t, k_t, v_t, β_t`` come from the slow net (one linear map of the current token) and are
computed outside, in parallel over time: ``q, k`` are ``φ``-mapped, ``β`` a sigmoid, as in the
paper. The second net's inputs depend on the first net's state, so their activations act inside
the step. The official code normalises with ``x / (Σx + 1e-5)``; this reference uses
``fastweights.ops.feature_maps.sum_norm`` (a relative difference below 1e-5). A learned initial
``W_0`` (the official ``use_slow_base_weights``) is simply the initial state ``S1``.

Orientation: both fast weights stored transposed (``S = Wᵀ``, read ``o = Sᵀ q``).

- ``Inputs`` (one token): ``q, k [B, H, K]``, ``v [B, H, 3D+1]``, ``beta [B, H]``.
- ``State``: ``S1 [B, H, K, 3D+1]`` (``Wᵀ``, the programmer), ``S2 [B, H, D, D]`` (``Vᵀ``, the
  programmed net).
- No slow parameters act inside the recurrence: ``params`` is None.

Forms: ``recurrent`` (the scan over ``step``) and ``chunk``: two chunkwise delta rules in a row
(``fastweights.ops.rules.delta_chunk``), since the first net's writes never depend on the second.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, recurrent
from fastweights.ops.feature_maps import elu_plus_one, sum_norm
from fastweights.ops.rules.delta import step as delta_step
from fastweights.ops.rules.delta_chunk import chunk_delta


class Inputs(NamedTuple):
    """The slow net's outputs for one token."""

    q: Tensor  # [B, H, K]  φ(q)
    k: Tensor  # [B, H, K]  φ(k)
    v: Tensor  # [B, H, 3D+1]  what the first net stores: the second net's raw (q, k, v, b)
    beta: Tensor  # [B, H]  in (0, 1)


class State(NamedTuple):
    S1: Tensor  # [B, H, K, 3D+1]  first fast net (programmer), Wᵀ
    S2: Tensor  # [B, H, D, D]  second fast net (programmed), Vᵀ


def _phi(x: Tensor) -> Tensor:
    return sum_norm(elu_plus_one(x))


def step(state: State, x_t: Inputs, params: None = None) -> tuple[Tensor, State]:
    """One token of the Delta-Delta Net. Returns ``(y_t [B, H, D], state)``."""
    D = state.S2.shape[-1]
    if state.S2.shape[-2] != D or state.S1.shape[-1] != 3 * D + 1:
        raise ValueError(
            f"delta_delta: S2 must be [B, H, D, D] and S1 [B, H, K, 3D+1], "
            f"got S1 {tuple(state.S1.shape)}, S2 {tuple(state.S2.shape)}"
        )
    p, S1 = delta_step(state.S1, x_t.q, x_t.k, x_t.v, x_t.beta)  # [B, H, 3D+1]
    q2, k2, v2, b2 = p.split([D, D, D, 1], dim=-1)
    y, S2 = delta_step(state.S2, _phi(q2), _phi(k2), v2, torch.sigmoid(b2.squeeze(-1)))
    return y, State(S1, S2)


@cell_example
def example(
    randn: Sampler, batch: int, length: int, heads: int = 2, d: int = 4
) -> tuple[Inputs, State, None]:
    """Random inputs ``[B, T, H, ·]`` (``K = D = d``), a random initial state, no params."""
    B, T, H = batch, length, heads
    x = Inputs(
        q=_phi(randn(B, T, H, d)),
        k=_phi(randn(B, T, H, d)),
        v=randn(B, T, H, 3 * d + 1),
        beta=torch.sigmoid(randn(B, T, H)),
    )
    state = State(S1=0.3 * randn(B, H, d, 3 * d + 1), S2=0.3 * randn(B, H, d, d))
    return x, state, None


def chunk(x: Inputs, state: State, params: None = None) -> tuple[Tensor, State]:
    """The whole sequence in two chunkwise delta rules: the first net never reads the second,
    so it runs over all tokens first, and what it emits programs the second."""
    D = state.S2.shape[-1]
    p, S1 = chunk_delta(x.q, x.k, x.v, x.beta, state.S1, chunk_size=64, scale=1.0)
    q2, k2, v2, b2 = p.split([D, D, D, 1], dim=-1)
    beta2 = torch.sigmoid(b2.squeeze(-1))
    y, S2 = chunk_delta(_phi(q2), _phi(k2), v2, beta2, state.S2, chunk_size=64, scale=1.0)
    return y, State(S1, S2)


def layer_inputs(raw: Tensor) -> Inputs:
    """A layer's slow projection ``raw [..., 5d+2]`` -> ``φ(q), φ(k), v [3d+1], σ(β)``."""
    d = (raw.shape[-1] - 2) // 5
    q, k, v, beta = raw.split([d, d, 3 * d + 1, 1], dim=-1)
    return Inputs(_phi(q), _phi(k), v, torch.sigmoid(beta.squeeze(-1)))


# as a layer: zero W_0 (the official default, use_slow_base_weights=False) and V_0
LAYER = CellSpec(
    width=lambda d: 5 * d + 2,
    inputs=layer_inputs,
    state=lambda H, d, generator: State(torch.zeros(H, d, 3 * d + 1), torch.zeros(H, d, d)),
    learn_state=False,
)

cell = Cell(
    "delta_delta", step, {"recurrent": recurrent(step), "chunk": chunk}, example, layer=LAYER
)
