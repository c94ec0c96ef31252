"""SR-Delta: a self-referential weight matrix as the self-modifying slow net of a DeltaNet.

Irie, Schlag, Csordás, Schmidhuber, ICML 2022 (arXiv:2202.05780). The SRWM of
``fastweights.ops.cells.srwm`` (rewriting itself as usual) emits, instead of an output, the query,
key, value and learning rate of a DeltaNet fast weight ``S`` (arXiv:2102.11174)::

    [q̂_t, k̂_t, v_t, β̂_t], W_t = SRWM(W_{t-1}, x_t)            (W_y has 3D + 1 rows)
    q_t = φ(q̂_t),  k_t = φ(k̂_t),  β_t = σ(β̂_t),   φ(z) = (elu(z) + 1) / Σ (elu(z) + 1)
    S_t = S_{t-1} + β_t k_t (v_t − S_{t-1}ᵀ k_t)ᵀ,   y_t = S_tᵀ q_t

The slow net that programs the fast weights thus programs itself. State: the SRWM's four
matrices (``W_y: [B, H, 3D + 1, D]``) and the DeltaNet's ``S: [B, H, D, D]`` (``S = Wᵀ``).

Forms: ``recurrent`` (the scan over ``step``) and ``fused``: the SRWM never reads the DeltaNet, so
its whole sequence runs first in the fused SRWM form (``fastweights.ops.cells.srwm_fused``), and the
DeltaNet then runs in the delta rule's chunk form on what it emitted.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, recurrent
from fastweights.ops.cells import srwm
from fastweights.ops.cells.srwm_fused import fused_srwm
from fastweights.ops.rules import delta
from fastweights.ops.rules.delta_chunk import chunk_delta


class State(NamedTuple):
    """The SRWM (``W_y: [B, H, 3D+1, D]``, ``W_q, W_k: [B, H, D, D]``, ``w_b: [B, H, D, 4]``)
    and the DeltaNet fast weight ``S: [B, H, D, D]``."""

    W_y: Tensor
    W_q: Tensor
    W_k: Tensor
    w_b: Tensor
    S: Tensor


def _phi(z: Tensor) -> Tensor:
    z = F.elu(z) + 1
    return z / z.sum(-1, keepdim=True)


def step(state: State, x_t: Tensor, params: None = None) -> tuple[Tensor, State]:
    """One token ``x_t [B, H, D]`` -> ``(y_t [B, H, D], state)``."""
    programmed, sr_state = srwm.step(srwm.State(*state[:4]), x_t)
    D = x_t.shape[-1]
    q, k, v, beta = programmed.split([D, D, D, 1], dim=-1)
    y, S = delta.step(state.S, _phi(q), _phi(k), v, torch.sigmoid(beta).squeeze(-1))
    return y, State(*sr_state, S)


def fused(x: Tensor, state: State, params: None = None) -> tuple[Tensor, State]:
    """The whole sequence ``x [B, T, H, D]``: fused SRWM, then the chunkwise delta rule."""
    programmed, *sr_state = fused_srwm(x, *state[:4])
    D = x.shape[-1]
    q, k, v, beta = programmed.split([D, D, D, 1], dim=-1)
    y, S = chunk_delta(
        _phi(q), _phi(k), v, torch.sigmoid(beta).squeeze(-1), state.S, chunk_size=64, scale=1.0
    )
    return y, State(*sr_state, S)


@cell_example
def example(
    randn: Sampler, batch: int, length: int, heads: int = 2, d: int = 5
) -> tuple[Tensor, State, None]:
    """Random inputs ``x [B, T, H, D]`` and an initial state (SRWM init, random ``S``)."""
    x = randn(batch, length, heads, d)
    std = d**-0.5
    state = State(
        std * randn(batch, heads, 3 * d + 1, d),
        std * randn(batch, heads, d, d),
        std * randn(batch, heads, d, d),
        std * randn(batch, heads, d, 4),
        0.5 * randn(batch, heads, d, d),
    )
    return x, state, None


# as a layer: the token as the SRWM's input, the SRWM's init (W_y with 3d + 1 rows), zero S
LAYER = CellSpec(
    width=lambda d: d,
    inputs=srwm.layer_inputs,
    state=lambda H, d, generator: State(
        *srwm.init_weights(H, d, generator, rows=3 * d + 1), torch.zeros(H, d, d)
    ),
)

cell = Cell("sr_delta", step, {"recurrent": recurrent(step), "fused": fused}, example, layer=LAYER)
