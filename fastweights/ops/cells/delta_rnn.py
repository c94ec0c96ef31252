"""The Delta RNN: a DeltaNet whose fast net also has a recurrent fast weight matrix.

Irie, Schlag, Csordás, Schmidhuber 2021, "Going Beyond Linear Transformers with Recurrent Fast
Weight Programmers" (arXiv:2106.06295), §3 and Appendix A; official code
``IDSIA/recurrent-fwp`` (``fast_weight_rnn_v2``, ``fast_weight_rnn``). Paper notation, per head::

    W_t = W_{t-1} + β_t (v_t − W_{t-1} k_t) ⊗ k_t             (feed-forward fast weight)
    z_t = W_t q_t
    R_t = R_{t-1} + β^r_t (v^r_t − R_{t-1} k^r_t) ⊗ k^r_t     (recurrent fast weight, delta rule)
    v2 (registered, Table 2):  y_t = z_t + R_t softmax(y_{t-1})
    v1 (Appendix A, Table 4):  y_t = softmax(z_t + R_t y_{t-1})

Both matrices are written before they are read (the delta rule's order). The query ``q_t``, the
keys and the rates come from the slow net and depend on the current token only, so they are
computed outside, in parallel over time: in the paper ``q, k`` are elu+1 then sum-normalised,
``k^r`` is softmaxed ("consistent with the recurrent activation"), ``β, β^r`` are sigmoids. The
output is not scaled here (the official layers multiply it by ``d^{-1/2}`` afterwards).

v1's activation is the softmax, as in the official kernel (the REFERENCES summary writes tanh).
The official kernels divide the softmax by ``Σ exp + 1e-6``; this reference uses the exact
softmax (a relative difference below 1e-6).

Orientation: the library stores ``S = Wᵀ`` (``[B, H, K, V]``, ``o = Sᵀ q``) and likewise
``R_state = Rᵀ`` (``[B, H, D, D]``, rows index the input ``f(y_{t-1})``, columns the output).

- ``Inputs`` (one token): ``q, k [B, H, K]``, ``v [B, H, D]``, ``beta [B, H]``,
  ``k_rec [B, H, D]``, ``v_rec [B, H, D]``, ``beta_rec [B, H]`` (with time at dim 1 for a scan).
- ``State``: ``S [B, H, K, D]`` (``W``ᵀ), ``R [B, H, D, D]`` (``R``ᵀ), ``y [B, H, D]`` (y_{t-1};
  for v1 it is the softmax output, for v2 the pre-activation sum).
- No slow parameters act inside the recurrence: ``params`` is None.

Forms: ``recurrent`` (the scan over ``step``) and ``split``: the feed-forward DeltaNet over the
whole sequence in the chunkwise delta rule, then only the recurrent matrix token by token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, recurrent
from fastweights.ops.feature_maps import elu_plus_one, softmax, sum_norm
from fastweights.ops.rules.delta import step as delta_step
from fastweights.ops.rules.delta_chunk import chunk_delta


class Inputs(NamedTuple):
    """The slow net's outputs for one token (``[B, T, ...]`` for a whole sequence)."""

    q: Tensor  # [B, H, K]  φ(q), feed-forward fast net query
    k: Tensor  # [B, H, K]  φ(k)
    v: Tensor  # [B, H, D]
    beta: Tensor  # [B, H]  in (0, 1)
    k_rec: Tensor  # [B, H, D]  softmax key of the recurrent fast weight
    v_rec: Tensor  # [B, H, D]
    beta_rec: Tensor  # [B, H]  in (0, 1)


class State(NamedTuple):
    S: Tensor  # [B, H, K, D]  feed-forward fast weight, W_tᵀ
    R: Tensor  # [B, H, D, D]  recurrent fast weight, R_tᵀ
    y: Tensor  # [B, H, D]  previous output y_{t-1}


def _check(state: State, x_t: Inputs) -> None:
    D = state.y.shape[-1]
    if state.R.shape[-2:] != (D, D) or state.S.shape[-1] != D or x_t.k_rec.shape[-1] != D:
        raise ValueError(
            f"delta_rnn: the recurrent fast weight must be [B, H, D, D] with D = y's size {D}, "
            f"got R {tuple(state.R.shape)}, S {tuple(state.S.shape)}, "
            f"k_rec {tuple(x_t.k_rec.shape)}"
        )


def step(state: State, x_t: Inputs, params: None = None) -> tuple[Tensor, State]:
    """Delta RNN v2, one token: ``y_t = z_t + R_t softmax(y_{t-1})``. Returns ``(y_t, state)``."""
    _check(state, x_t)
    z, S = delta_step(state.S, x_t.q, x_t.k, x_t.v, x_t.beta)  # [B, H, D]
    # the recurrent matrix is written with (k^r, v^r, β^r), then read with softmax(y_{t-1})
    r, R = delta_step(state.R, torch.softmax(state.y, dim=-1), x_t.k_rec, x_t.v_rec, x_t.beta_rec)
    y = z + r
    return y, State(S, R, y)


def step_v1(state: State, x_t: Inputs, params: None = None) -> tuple[Tensor, State]:
    """Delta RNN v1, one token: ``y_t = softmax(z_t + R_t y_{t-1})``. Returns ``(y_t, state)``."""
    _check(state, x_t)
    z, S = delta_step(state.S, x_t.q, x_t.k, x_t.v, x_t.beta)
    r, R = delta_step(state.R, state.y, x_t.k_rec, x_t.v_rec, x_t.beta_rec)
    y = torch.softmax(z + r, dim=-1)
    return y, State(S, R, y)


@cell_example
def example(
    randn: Sampler, batch: int, length: int, heads: int = 2, d: int = 4
) -> tuple[Inputs, State, None]:
    """Random inputs ``[B, T, H, ·]`` (keys as in the paper), a random initial state, no params."""
    B, T, H = batch, length, heads
    x = Inputs(
        q=sum_norm(elu_plus_one(randn(B, T, H, d))),
        k=sum_norm(elu_plus_one(randn(B, T, H, d))),
        v=randn(B, T, H, d),
        beta=torch.sigmoid(randn(B, T, H)),
        k_rec=F.softmax(randn(B, T, H, d), dim=-1),
        v_rec=randn(B, T, H, d),
        beta_rec=torch.sigmoid(randn(B, T, H)),
    )
    state = State(S=0.3 * randn(B, H, d, d), R=0.3 * randn(B, H, d, d), y=randn(B, H, d))
    return x, state, None


def _split_form(
    query: Callable[[Tensor], Tensor], combine: Callable[[Tensor, Tensor], Tensor]
) -> Callable[..., tuple]:
    """A form in two parts: the feed-forward DeltaNet never reads ``y``, so all its outputs
    ``z`` come from one chunkwise delta rule; only the recurrent matrix runs token by token,
    written and then read with ``query(y_{t-1})``, as in the step."""

    def form(x: Inputs, state: State, params: None = None) -> tuple[Tensor, State]:
        z, S = chunk_delta(x.q, x.k, x.v, x.beta, state.S, chunk_size=64, scale=1.0)
        R, y = state.R, state.y
        outputs = []
        per_token = (t.unbind(1) for t in (z, x.k_rec, x.v_rec, x.beta_rec))
        for z_t, k_t, v_t, beta_t in zip(*per_token, strict=True):
            r, R = delta_step(R, query(y), k_t, v_t, beta_t)
            y = combine(z_t, r)
            outputs.append(y)
        return torch.stack(outputs, dim=1), State(S, R, y)

    return form


def layer_fields(raw: Tensor) -> tuple[Tensor, ...]:
    """A layer's slow projection ``raw [..., 5d+2]`` -> ``q, k, v, beta, k_rec, v_rec, beta_rec``
    with the paper's maps."""
    d = (raw.shape[-1] - 2) // 5
    q, k, v, beta, k_rec, v_rec, beta_rec = raw.split([d, d, d, 1, d, d, 1], dim=-1)
    return (
        sum_norm(elu_plus_one(q)),
        sum_norm(elu_plus_one(k)),
        v,
        torch.sigmoid(beta.squeeze(-1)),
        softmax(k_rec),  # "consistent with the recurrent activation"
        v_rec,
        torch.sigmoid(beta_rec.squeeze(-1)),
    )


# as a layer (v2): zero fast weights and y_0 = 0, as the official FastRNNlayer
LAYER = CellSpec(
    width=lambda d: 5 * d + 2,
    inputs=lambda raw: Inputs(*layer_fields(raw)),
    state=lambda H, d, generator: State(
        torch.zeros(H, d, d), torch.zeros(H, d, d), torch.zeros(H, d)
    ),
    learn_state=False,
)

split_v2 = _split_form(lambda y: torch.softmax(y, dim=-1), lambda z, r: z + r)
split_v1 = _split_form(lambda y: y, lambda z, r: torch.softmax(z + r, dim=-1))
cell = Cell(
    "delta_rnn", step, {"recurrent": recurrent(step), "split": split_v2}, example, layer=LAYER
)
cell_v1 = Cell(
    "delta_rnn_v1", step_v1, {"recurrent": recurrent(step_v1), "split": split_v1}, example
)
