"""The Delta LSTM: an LSTM-like fast net whose gate weights are all fast, programmed by delta rules.

Irie, Schlag, Csordás, Schmidhuber 2021, "Going Beyond Linear Transformers with Recurrent Fast
Weight Programmers" (arXiv:2106.06295), §3 and Appendix A; this is the paper's main variant
("version 4", Table 2; official kernel ``fast_lstm_v4`` in ``IDSIA/recurrent-fwp``). Per head and
for each of the three parts ``g ∈ {i, u, o}`` (input gate, update, output gate), paper notation::

    W^g_t = W^g_{t-1} + β^g_t (v^g_t − W^g_{t-1} k^g_t) ⊗ k^g_t            (feed-forward)
    R^g_t = R^g_{t-1} + β^{rg}_t (v^{rg}_t − R^g_{t-1} k^{rg}_t) ⊗ k^{rg}_t (recurrent)
    s_t   = softmax(h_{t-1})
    i_t = σ(W^i_t q^i_t + R^i_t s_t)
    u_t =   W^u_t q^u_t + R^u_t s_t                   (no activation on the update in v4)
    o_t = σ(W^o_t q^o_t + R^o_t s_t)
    c_t = i_t ⊙ u_t + (1 − i_t) ⊙ c_{t-1}            (coupled input/forget gate)
    h_t = o_t ⊙ c_t = y_t

Every matrix is written before it is read. The slow net's projections of the current token are
computed outside, in parallel over time: in the paper ``q^g, k^g`` are elu+1 then sum-normalised,
the recurrent keys ``k^{rg}`` softmaxed, all rates sigmoids. The official kernel divides the
softmax by ``Σ exp + 1e-6``; this reference uses the exact softmax.

Orientation: the library stores every fast matrix transposed (``S = Wᵀ``, ``[B, H, K, D]``,
``o = Sᵀ q``; ``R``-fields are ``Rᵀ``, ``[B, H, D, D]``).

- ``Inputs`` (one token), the three parts stacked at dim 2 in the order ``(i, u, o)``:
  ``q, k [B, H, 3, K]``, ``v [B, H, 3, D]``, ``beta [B, H, 3]``, ``k_rec [B, H, 3, D]``,
  ``v_rec [B, H, 3, D]``, ``beta_rec [B, H, 3]`` (time at dim 1 for a scan).
- ``State``: ``S_i, S_u, S_o [B, H, K, D]``, ``R_i, R_u, R_o [B, H, D, D]``, ``h, c [B, H, D]``.
- No slow parameters act inside the recurrence: ``params`` is None.

Forms: ``recurrent`` (the scan over ``step``) and ``split`` (the feed-forward fast weights in the
chunkwise delta rule, the recurrent ones token by token).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, recurrent
from fastweights.ops.cells import delta_rnn
from fastweights.ops.feature_maps import elu_plus_one, sum_norm
from fastweights.ops.rules.delta import step as delta_step
from fastweights.ops.rules.delta_chunk import chunk_delta

GATES = ("i", "u", "o")  # the order of dim 2 of every ``Inputs`` field


class Inputs(NamedTuple):
    """The slow net's outputs for one token, parts stacked at dim 2 as ``GATES``."""

    q: Tensor  # [B, H, 3, K]
    k: Tensor  # [B, H, 3, K]
    v: Tensor  # [B, H, 3, D]
    beta: Tensor  # [B, H, 3]
    k_rec: Tensor  # [B, H, 3, D]  softmax keys of the recurrent fast weights
    v_rec: Tensor  # [B, H, 3, D]
    beta_rec: Tensor  # [B, H, 3]


class State(NamedTuple):
    S_i: Tensor  # [B, H, K, D]  feed-forward fast weights (Wᵀ)
    S_u: Tensor
    S_o: Tensor
    R_i: Tensor  # [B, H, D, D]  recurrent fast weights (Rᵀ)
    R_u: Tensor
    R_o: Tensor
    h: Tensor  # [B, H, D]  h_{t-1}, the previous output
    c: Tensor  # [B, H, D]  c_{t-1}, the cell


def step(state: State, x_t: Inputs, params: None = None) -> tuple[Tensor, State]:
    """One token of the Delta LSTM. Returns ``(h_t [B, H, D], state)``."""
    if x_t.q.dim() != 4 or x_t.q.shape[2] != len(GATES):
        raise ValueError(
            f"delta_lstm: Inputs fields stack the parts {GATES} at dim 2 ([B, H, 3, ·]), "
            f"got q {tuple(x_t.q.shape)}"
        )
    # the three parts run as one batched delta rule: [B, H, 3, K, D]
    S = torch.stack([state.S_i, state.S_u, state.S_o], dim=2)
    R = torch.stack([state.R_i, state.R_u, state.R_o], dim=2)
    z, S = delta_step(S, x_t.q, x_t.k, x_t.v, x_t.beta)  # [B, H, 3, D]
    s = torch.softmax(state.h, dim=-1).unsqueeze(2).expand_as(x_t.k_rec)  # [B, H, 3, D]
    r, R = delta_step(R, s, x_t.k_rec, x_t.v_rec, x_t.beta_rec)  # [B, H, 3, D]
    pre_i, u, pre_o = (z + r).unbind(2)
    i, o = torch.sigmoid(pre_i), torch.sigmoid(pre_o)
    c = i * u + (1 - i) * state.c
    h = o * c
    return h, State(*S.unbind(2), *R.unbind(2), h, c)


@cell_example
def example(
    randn: Sampler, batch: int, length: int, heads: int = 2, d: int = 4
) -> tuple[Inputs, State, None]:
    """Random inputs ``[B, T, H, 3, ·]`` (keys as in the paper), a random state, no params."""
    B, T, H, G = batch, length, heads, len(GATES)
    x = Inputs(
        q=sum_norm(elu_plus_one(randn(B, T, H, G, d))),
        k=sum_norm(elu_plus_one(randn(B, T, H, G, d))),
        v=randn(B, T, H, G, d),
        beta=torch.sigmoid(randn(B, T, H, G)),
        k_rec=F.softmax(randn(B, T, H, G, d), dim=-1),
        v_rec=randn(B, T, H, G, d),
        beta_rec=torch.sigmoid(randn(B, T, H, G)),
    )
    fast = [0.3 * randn(B, H, d, d) for _ in range(6)]
    state = State(*fast, h=randn(B, H, d), c=randn(B, H, d))
    return x, state, None


def split(x: Inputs, state: State, params: None = None) -> tuple[Tensor, State]:
    """The feed-forward fast weights never read ``h``: their outputs for the whole sequence come
    from one chunkwise delta rule (gates folded into the heads); only the recurrent matrices and
    the cell run token by token."""
    B, T, H = x.q.shape[:3]

    def fold(t: Tensor) -> Tensor:  # [B, T, H, 3, ...] -> [B, T, 3H, ...]
        return t.reshape(B, T, 3 * H, *t.shape[4:])

    S0 = torch.stack([state.S_i, state.S_u, state.S_o], dim=2).flatten(1, 2)  # [B, 3H, K, D]
    z, S = chunk_delta(fold(x.q), fold(x.k), fold(x.v), fold(x.beta), S0, chunk_size=64,
                       scale=1.0)  # fmt: skip
    z, S = z.view(B, T, H, 3, -1), S.view(B, H, 3, *S.shape[-2:])
    R = torch.stack([state.R_i, state.R_u, state.R_o], dim=2)
    h, c, outputs = state.h, state.c, []
    for z_t, k_t, v_t, beta_t in zip(
        *(t.unbind(1) for t in (z, x.k_rec, x.v_rec, x.beta_rec)), strict=True
    ):
        r, R = delta_step(R, torch.softmax(h, dim=-1).unsqueeze(2).expand_as(k_t), k_t, v_t, beta_t)
        pre_i, u, pre_o = (z_t + r).unbind(2)
        i, o = torch.sigmoid(pre_i), torch.sigmoid(pre_o)
        c = i * u + (1 - i) * c
        h = o * c
        outputs.append(h)
    return torch.stack(outputs, dim=1), State(*S.unbind(2), *R.unbind(2), h, c)


def layer_inputs(raw: Tensor) -> Inputs:
    """A layer's slow projection ``raw [B, T, H, 3 (5d+2)]`` -> the Delta RNN's inputs once per
    part (i, u, o), with the paper's maps (``delta_rnn.layer_fields``)."""
    parts = raw.unflatten(-1, (len(GATES), raw.shape[-1] // len(GATES)))  # [B, T, H, 3, 5d+2]
    return Inputs(*delta_rnn.layer_fields(parts))


# as a layer (v4): zero state
LAYER = CellSpec(
    width=lambda d: len(GATES) * (5 * d + 2),
    inputs=layer_inputs,
    state=lambda H, d, generator: State(
        *(torch.zeros(H, d, d) for _ in range(6)), torch.zeros(H, d), torch.zeros(H, d)
    ),
    learn_state=False,
)

cell = Cell(
    "delta_lstm", step, {"recurrent": recurrent(step), "split": split}, example, layer=LAYER
)
