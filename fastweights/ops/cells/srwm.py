"""The modern self-referential weight matrix (SRWM) and its Fake-SR ablation.

Irie, Schlag, Csordás, Schmidhuber, "A Modern Self-Referential Weight Matrix That Learns to
Modify Itself", ICML 2022 (arXiv:2202.05780). Per head one matrix ``W = [W_y; W_q; W_k; w_bᵀ]``
computes its own output, query, key and four learning rates, and rewrites itself with the
delta rule, taking its own query as the target::

    y_t, q̃_t, k̃_t, β̃_t = W_{t-1} x_t                  (y from the weights before the update)
    q_t = softmax(q̃_t),  k_t = softmax(k̃_t),  β_t = σ(β̃_t) ∈ R⁴
    v_t = W_{t-1} q_t,   v̄_t = W_{t-1} k_t               (the matrix reads itself)
    W_t = W_{t-1} + β_t ⊙_rows (v_t − v̄_t) ⊗ k_t         (β[0] rows of W_y, β[1] W_q, β[2] W_k,
                                                          β[3] w_b)

**Orientation.** ``W_y, W_q, W_k: [B, H, D, D]`` map by ``y = W_y x`` (row i gives output i);
``w_b: [B, H, D, 4]`` is stored transposed, ``β̃ = w_bᵀ x`` (column r gives rate r), as in the
official kernels. The state is all four, carried across calls (stateful mode); the learned
``W_0`` is the initial state. Softmax on the input (an option of the paper) is applied to ``x``
before the cell, like every per-token transform.

**Forms.** ``recurrent`` is the scan over ``step`` (the oracle); ``fused`` stacks the four
matrices, runs two matrix-vector products and one rank-one update per token, and has a backward
that reverts updates instead of storing every ``W_t`` (``fastweights.ops.cells.srwm_fused``).

**Kernel form** (``kernels``): ``triton_recurrent``, the fused recurrent Triton kernel with the
same reverting backward (``fastweights.ops.triton.srwm``; float32 state; CUDA, or the CPU
interpreter).

**Fake SR** (``fake_step``): the ablation with a static output matrix and no self-modification,
``y_t = W_y x_t``; the state passes through unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import torch
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, init_normal, recurrent
from fastweights.ops.cells.srwm_fused import fused_srwm


class State(NamedTuple):
    """``W_y, W_q, W_k: [B, H, D, D]`` (``y = W_y x``); ``w_b: [B, H, D, 4]`` (``β̃ = w_bᵀ x``)."""

    W_y: Tensor
    W_q: Tensor
    W_k: Tensor
    w_b: Tensor


def _apply(W: Tensor, x: Tensor) -> Tensor:
    return (W @ x.unsqueeze(-1)).squeeze(-1)  # [B, H, R, D] @ [B, H, D] -> [B, H, R]


def step(state: State, x_t: Tensor, params: None = None) -> tuple[Tensor, State]:
    """One token ``x_t [B, H, D]`` -> ``(y_t [B, H, D], state)``."""
    W_y, W_q, W_k, w_b = state
    y = _apply(W_y, x_t)
    q = torch.softmax(_apply(W_q, x_t), dim=-1)
    k = torch.softmax(_apply(W_k, x_t), dim=-1)
    beta = torch.sigmoid((x_t.unsqueeze(-2) @ w_b).squeeze(-2))  # [B, H, 4]
    u = q - k  # v − v̄ = W (q − k) for every sub-matrix

    def update(W: Tensor, rate: Tensor) -> Tensor:
        return W + (rate[..., None] * _apply(W, u)).unsqueeze(-1) * k.unsqueeze(-2)

    w_b_delta = (u.unsqueeze(-2) @ w_b).squeeze(-2) * beta[..., 3:]  # [B, H, 4]
    new = State(
        update(W_y, beta[..., 0]),
        update(W_q, beta[..., 1]),
        update(W_k, beta[..., 2]),
        w_b + k.unsqueeze(-1) * w_b_delta.unsqueeze(-2),
    )
    return y, new


def fake_step(state: State, x_t: Tensor, params: None = None) -> tuple[Tensor, State]:
    """Fake SR: ``y_t = W_y x_t`` with ``W_y`` fixed; nothing is modified."""
    return _apply(state.W_y, x_t), state


@cell_example
def example(
    randn: Sampler, batch: int, length: int, heads: int = 2, d: int = 5
) -> tuple[Tensor, State, None]:
    """Random inputs ``x [B, T, H, D]`` and an initial state scaled like the paper's init."""
    x = randn(batch, length, heads, d)
    std = d**-0.5
    state = State(
        std * randn(batch, heads, d, d),
        std * randn(batch, heads, d, d),
        std * randn(batch, heads, d, d),
        std * randn(batch, heads, d, 4),
    )
    return x, state, None


def fused(x: Tensor, state: State, params: None = None) -> tuple[Tensor, State]:
    """The fused form (``fastweights.ops.cells.srwm_fused``): memory O(T·D) instead of O(T·D²)."""
    y, *final = fused_srwm(x, *state)
    return y, State(*final)


def fake_parallel(x: Tensor, state: State, params: None = None) -> tuple[Tensor, State]:
    """Fake SR over the whole sequence at once: nothing is rewritten, so no loop is needed."""
    return (state.W_y.unsqueeze(1) @ x.unsqueeze(-1)).squeeze(-1), state


def triton_recurrent(x: Tensor, state: State, params: None = None) -> tuple[Tensor, State]:
    """The fused recurrent Triton kernel (``fastweights.ops.triton.srwm``, imported on first call).

    ``x`` float32/float16/bfloat16, the state float32; CUDA, or CPU under ``TRITON_INTERPRET=1``.
    """
    from fastweights.ops.triton.srwm import srwm_triton

    y, *final = srwm_triton(x, *state)
    return y, State(*final)


def init_weights(H: int, d: int, generator: torch.Generator, rows: int) -> tuple[Tensor, ...]:
    """A layer's initial ``W_y [H, rows, d]``, ``W_q, W_k [H, d, d]``, ``w_b [H, d, 4]``.

    The paper's init: N(0, 1/d) for the matrices; the rates start at σ(0) = 1/2 (its beta_init = 0).
    """
    std = d**-0.5
    W_y = init_normal(generator, H, rows, d, std=std)
    W_q, W_k = init_normal(generator, H, d, d, std=std), init_normal(generator, H, d, d, std=std)
    return W_y, W_q, W_k, init_normal(generator, H, d, 4, std=std)


def layer_inputs(raw: Tensor) -> Tensor:
    """The projected token as it is. The paper's optional input softmax (its RL and LM settings)
    left every SRWM layer here untrained at laptop budgets: parity after 300 steps, 14 % sequence
    accuracy with it, 100 % without (docs/srwm.md, "As a layer")."""
    return raw


# as a layer: the slow projection is the token itself (d per head); W_0 is learned
LAYER = CellSpec(
    width=lambda d: d,
    inputs=layer_inputs,
    state=lambda H, d, generator: State(*init_weights(H, d, generator, rows=d)),
)

cell = Cell(
    "srwm",
    step,
    {"recurrent": recurrent(step), "fused": fused},
    example,
    kernels={"triton_recurrent": triton_recurrent},
    layer=LAYER,
)
fake_cell = Cell(
    "fake_srwm",
    fake_step,
    {"recurrent": recurrent(fake_step), "parallel": fake_parallel},
    example,
    # Fake SR reads only W_y; the other matrices ride along as fixed buffers
    layer=replace(LAYER, learn_state=(0,)),
)
