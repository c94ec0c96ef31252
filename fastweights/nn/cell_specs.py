"""``CELL_SPECS``: how each cell of ``fastweights.ops.CELLS`` becomes a layer (``CellLayer``).

Per cell: the width of the slow projection per head, the per-token activations that turn it
into the cell's inputs, the initial state (learned where the paper learns it), the slow
parameters acting inside the recurrence, and the output size per head. See ``cell_layer.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from fastweights.ops.cell import Cell, Tree, heads_as_batch
from fastweights.ops.cells import (
    delta_delta,
    delta_lstm,
    delta_mlp,
    delta_rnn,
    fwp1991,
    rdn,
    sr_delta,
    srnet1993,
    srwm,
)
from fastweights.ops.feature_maps import elu_plus_one, softmax, sum_norm


@dataclass(frozen=True)
class CellSpec:
    """How a cell becomes a layer (see the module docstring)."""

    width: Callable[[int], int]
    inputs: Callable[[Tensor], Tree]
    state: Callable[[int, int, torch.Generator], Tree]
    params: Callable[[int, int, torch.Generator], Tree]
    out: Callable[[int], int]
    # which leaves of the initial state / of the params are learned (all, none, or their
    # indices); the others are fixed buffers
    learn_state: bool | tuple[int, ...] = True
    learn_params: bool | tuple[int, ...] = True
    cell: Callable[[int, int], Cell] | None = None


# The Delta MLP's fast net, as the official ``CudaDeepFastNetLayer`` by default: one residual
# block (``fast_net_depth=1``) whose hidden width is 4·d_model over the heads, i.e. F = 4·d.
DELTA_MLP_BLOCKS = 1
DELTA_MLP_INNER = 4


def _randn(generator: torch.Generator, *shape: int, std: float) -> Tensor:
    return std * torch.randn(*shape, generator=generator)


def _srwm_state(H: int, d: int, generator: torch.Generator, rows: int) -> tuple[Tensor, ...]:
    # the paper's init: N(0, 1/d) for the matrices; rates start at σ(0) = 1/2 (its beta_init = 0)
    std = d**-0.5
    W_y = _randn(generator, H, rows, d, std=std)
    W_q, W_k = _randn(generator, H, d, d, std=std), _randn(generator, H, d, d, std=std)
    return W_y, W_q, W_k, _randn(generator, H, d, 4, std=std)


def _srwm_inputs(raw: Tensor) -> Tensor:
    # The projected token as it is. The paper's optional input softmax (its RL and LM settings)
    # left every SRWM layer here untrained at laptop budgets: parity after 300 steps, 14 %
    # sequence accuracy with it, 100 % without (docs/srwm.md, "As a layer").
    return raw


def _phi(x: Tensor) -> Tensor:
    return sum_norm(elu_plus_one(x))  # the papers' key/query map: elu + 1, sum-normalised


def _delta_rnn_fields(raw: Tensor) -> tuple[Tensor, ...]:
    """``raw [..., 5d+2]`` -> q, k, v, beta, k_rec, v_rec, beta_rec with the paper's maps."""
    d = (raw.shape[-1] - 2) // 5
    q, k, v, beta, k_rec, v_rec, beta_rec = raw.split([d, d, d, 1, d, d, 1], dim=-1)
    return (
        _phi(q),
        _phi(k),
        v,
        torch.sigmoid(beta.squeeze(-1)),
        softmax(k_rec),  # "consistent with the recurrent activation"
        v_rec,
        torch.sigmoid(beta_rec.squeeze(-1)),
    )


def _delta_lstm_inputs(raw: Tensor) -> delta_lstm.Inputs:
    # [B, T, H, 3 (5d+2)] -> [B, T, H, 3, 5d+2]: one set of fast-net inputs per part (i, u, o)
    parts = raw.unflatten(-1, (len(delta_lstm.GATES), raw.shape[-1] // len(delta_lstm.GATES)))
    return delta_lstm.Inputs(*_delta_rnn_fields(parts))


def _rdn_inputs(raw: Tensor) -> rdn.Inputs:
    # pre-activation: the softmax and sigmoid act inside the step, after adding R · tanh(y_{t-1})
    d = (raw.shape[-1] - 1) // 3
    q, k, v, beta = raw.split([d, d, d, 1], dim=-1)
    return rdn.Inputs(q, k, v, beta.squeeze(-1))


def _rdn_params(H: int, d: int, generator: torch.Generator) -> rdn.Params:
    std = d**-0.5  # the official reset_rec_parameters: N(0, 1/d) for R_q, R_k, R_v and r_β
    R_q, R_k, R_v = (_randn(generator, H, d, d, std=std) for _ in range(3))
    return rdn.Params(R_q, R_k, R_v, _randn(generator, H, d, std=std))


def _delta_mlp_width(d: int) -> int:
    F = DELTA_MLP_INNER * d
    return d + DELTA_MLP_BLOCKS * (2 * d + 2 * F + 2)


def _delta_mlp_inputs(raw: Tensor) -> delta_mlp.Inputs:
    n = DELTA_MLP_BLOCKS
    d = (raw.shape[-1] - 2 * n) // (1 + n * (2 + 2 * DELTA_MLP_INNER))
    F = DELTA_MLP_INNER * d
    q, rest = raw.split([d, raw.shape[-1] - d], dim=-1)
    blocks = rest.unflatten(-1, (n, 2 * d + 2 * F + 2))  # [B, T, H, n, 2d+2F+2]
    k_in, v_in, beta_in, k_out, v_out, beta_out = blocks.split([d, F, 1, F, d, 1], dim=-1)
    return delta_mlp.Inputs(
        q,  # raw: the fast net's layer norm and φ act on it inside the step
        _phi(k_in),
        v_in,
        torch.sigmoid(beta_in.squeeze(-1)),
        _phi(k_out),
        v_out,
        torch.sigmoid(beta_out.squeeze(-1)),
    )


def _delta_mlp_state(H: int, d: int, generator: torch.Generator) -> delta_mlp.State:
    n, F = DELTA_MLP_BLOCKS, DELTA_MLP_INNER * d
    return delta_mlp.State(torch.zeros(H, n, d, F), torch.zeros(H, n, F, d))


def _delta_delta_inputs(raw: Tensor) -> delta_delta.Inputs:
    d = (raw.shape[-1] - 2) // 5
    q, k, v, beta = raw.split([d, d, 3 * d + 1, 1], dim=-1)
    return delta_delta.Inputs(_phi(q), _phi(k), v, torch.sigmoid(beta.squeeze(-1)))


CELL_SPECS: dict[str, CellSpec] = {
    "srwm": CellSpec(
        width=lambda d: d,
        inputs=_srwm_inputs,
        state=lambda H, d, gen: srwm.State(*_srwm_state(H, d, gen, rows=d)),
        params=lambda H, d, gen: None,
        out=lambda d: d,
    ),
    "sr_delta": CellSpec(
        width=lambda d: d,
        inputs=_srwm_inputs,
        state=lambda H, d, gen: sr_delta.State(
            *_srwm_state(H, d, gen, rows=3 * d + 1), torch.zeros(H, d, d)
        ),
        params=lambda H, d, gen: None,
        out=lambda d: d,
    ),
    # the slow net emits FROM (a) and TO (b) patterns; the fast net reads the input x itself
    "fwp1991": CellSpec(
        width=lambda d: 3 * d,
        inputs=lambda raw: fwp1991.Inputs(*raw.chunk(3, dim=-1)),
        state=lambda H, d, gen: fwp1991.State(torch.zeros(H, d, d)),
        params=lambda H, d, gen: None,
        out=lambda d: d,
        learn_state=False,
    ),
    # Delta RNN (v2): zero fast weights and y_0 = 0, as the official FastRNNlayer
    "delta_rnn": CellSpec(
        width=lambda d: 5 * d + 2,
        inputs=lambda raw: delta_rnn.Inputs(*_delta_rnn_fields(raw)),
        state=lambda H, d, gen: delta_rnn.State(
            torch.zeros(H, d, d), torch.zeros(H, d, d), torch.zeros(H, d)
        ),
        params=lambda H, d, gen: None,
        out=lambda d: d,
        learn_state=False,
    ),
    # Delta LSTM (v4): the Delta RNN's inputs once per part (i, u, o); zero state
    "delta_lstm": CellSpec(
        width=lambda d: len(delta_lstm.GATES) * (5 * d + 2),
        inputs=_delta_lstm_inputs,
        state=lambda H, d, gen: delta_lstm.State(
            *(torch.zeros(H, d, d) for _ in range(6)), torch.zeros(H, d), torch.zeros(H, d)
        ),
        params=lambda H, d, gen: None,
        out=lambda d: d,
        learn_state=False,
    ),
    # RDN: slow recurrent weights R_q, R_k, R_v, r_β act inside the recurrence; zero state
    "rdn": CellSpec(
        width=lambda d: 3 * d + 1,
        inputs=_rdn_inputs,
        state=lambda H, d, gen: rdn.State(torch.zeros(H, d, d), torch.zeros(H, d)),
        params=_rdn_params,
        out=lambda d: d,
        learn_state=False,
    ),
    # Delta MLP: the layer norms' gains and biases (shared over heads, nn.LayerNorm(d_head)'s
    # init) are slow weights inside the fast net; zero fast weights
    "delta_mlp": CellSpec(
        width=_delta_mlp_width,
        inputs=_delta_mlp_inputs,
        state=_delta_mlp_state,
        params=lambda H, d, gen: delta_mlp.Params(
            torch.ones(DELTA_MLP_BLOCKS, d), torch.zeros(DELTA_MLP_BLOCKS, d)
        ),
        out=lambda d: d,
        learn_state=False,
    ),
    # Delta-Delta: zero W_0 (the official default, use_slow_base_weights=False) and V_0
    "delta_delta": CellSpec(
        width=lambda d: 5 * d + 2,
        inputs=_delta_delta_inputs,
        state=lambda H, d, gen: delta_delta.State(
            torch.zeros(H, d, 3 * d + 1), torch.zeros(H, d, d)
        ),
        params=lambda H, d, gen: None,
        out=lambda d: d,
        learn_state=False,
    ),
}

# Fake SR reads only W_y; the other matrices ride along as fixed buffers
CELL_SPECS["fake_srwm"] = replace(CELL_SPECS["srwm"], learn_state=(0,))


def _srnet_layout(d: int) -> srnet1993.Layout:
    # per head: d observation units (the slow projection), one eval unit, d hidden, d output
    return srnet1993.Layout(n_obs=d, n_eval=1, n_hidden=d, n_out=d)


def _srnet_state(H: int, d: int, generator: torch.Generator) -> srnet1993.State:
    layout = _srnet_layout(d)
    R, N = layout.n_computed, layout.n_units
    W0 = _randn(generator, H, R, N, std=N**-0.5)  # the learned slow weights, one net per head
    return srnet1993.State(W0, torch.zeros(H, R), torch.zeros(H, 1))


# The 1993 net has no heads: each head is its own net (heads fold into the batch). The eval unit
# is fed from the slow projection; the address codes and the sharpness of g stay fixed.
CELL_SPECS["srnet1993"] = CellSpec(
    width=lambda d: d + 1,
    inputs=lambda raw: srnet1993.Inputs(raw[..., :-1], raw[..., -1:]),
    state=_srnet_state,
    params=lambda H, d, gen: _srnet_layout(d).params(),
    out=lambda d: d,
    learn_state=(0,),
    learn_params=False,
    cell=lambda H, d: heads_as_batch(srnet1993.make_cell(_srnet_layout(d))),
)
