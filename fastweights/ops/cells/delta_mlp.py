"""The Delta MLP: a deep feed-forward fast net, every fast layer programmed by the delta rule.

Irie, Schlag, Csordás, Schmidhuber 2021, "Going Beyond Linear Transformers with Recurrent Fast
Weight Programmers" (arXiv:2106.06295), §3 and Appendix A; official layer
``CudaDeepFastNetLayer`` (``--attn_type 54``) in ``IDSIA/recurrent-fwp``. The fast net is a stack
of ``n`` residual blocks of two fast layers each (``D → F → D``). Per head, paper notation, with
``φ(x) = sum_norm(elu(x) + 1)`` and ``h^0_t = q_t``::

    for l = 1..n:
        a     = φ(LayerNorm_l(h^{l-1}_t))
        W^{l,1}_t = W^{l,1}_{t-1} + β^{l,1}_t (v^{l,1}_t − W^{l,1}_{t-1} k^{l,1}_t) ⊗ k^{l,1}_t
        u     = φ(W^{l,1}_t a)                                      (F-dimensional)
        W^{l,2}_t = W^{l,2}_{t-1} + β^{l,2}_t (v^{l,2}_t − W^{l,2}_{t-1} k^{l,2}_t) ⊗ k^{l,2}_t
        h^l_t = h^{l-1}_t + W^{l,2}_t u
    y_t = h^n_t

All ``2n`` keys, values and rates come from the slow net (one linear map of the current token)
and are computed outside, in parallel over time; the keys are ``φ(·)``-mapped there, as in the
paper (``k^{l,1} ∈ R^D``, ``k^{l,2} ∈ R^F``), the rates are sigmoids. The query ``q_t`` enters
raw: the layer norm and ``φ`` act inside the fast net. The official code normalises with
``x / (Σx + 1e-5)``; this reference uses ``fastweights.ops.feature_maps.sum_norm`` (``x / Σx``
for these positive features), a relative difference below 1e-5.

Orientation: fast weights stored transposed (``S = Wᵀ``, read ``o = Sᵀ a``), stacked over the
blocks at dim 2.

- ``Inputs`` (one token): ``q [B, H, D]``; ``k_in [B, H, n, D]``, ``v_in [B, H, n, F]``,
  ``beta_in [B, H, n]`` (first layer of each block); ``k_out [B, H, n, F]``,
  ``v_out [B, H, n, D]``, ``beta_out [B, H, n]`` (second layer).
- ``State``: ``S_in [B, H, n, D, F]`` (``(W^{l,1})ᵀ``), ``S_out [B, H, n, F, D]``
  (``(W^{l,2})ᵀ``).
- ``Params`` (optional; None means no affine): the layer norms' slow ``weight, bias [n, D]``.

Forms: ``recurrent`` (the scan over ``step``) and ``chunk`` (each fast layer a chunkwise delta
rule over the whole sequence; see ``chunk``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, Sampler, cell_example, recurrent
from fastweights.ops.feature_maps import elu_plus_one, sum_norm
from fastweights.ops.rules.delta import step as delta_step
from fastweights.ops.rules.delta_chunk import chunk_delta

LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, as in the official layer


class Inputs(NamedTuple):
    """The slow net's outputs for one token; dim 2 of the fast-layer fields is the block."""

    q: Tensor  # [B, H, D]  the fast net's input, raw
    k_in: Tensor  # [B, H, n, D]  φ-mapped
    v_in: Tensor  # [B, H, n, F]
    beta_in: Tensor  # [B, H, n]
    k_out: Tensor  # [B, H, n, F]  φ-mapped
    v_out: Tensor  # [B, H, n, D]
    beta_out: Tensor  # [B, H, n]


class State(NamedTuple):
    S_in: Tensor  # [B, H, n, D, F]
    S_out: Tensor  # [B, H, n, F, D]


class Params(NamedTuple):
    weight: Tensor  # [n, D]  layer norm gain of each block
    bias: Tensor  # [n, D]


def _phi(x: Tensor) -> Tensor:
    return sum_norm(elu_plus_one(x))


def step(state: State, x_t: Inputs, params: Params | None = None) -> tuple[Tensor, State]:
    """One token through the ``n``-block fast MLP. Returns ``(y_t [B, H, D], state)``."""
    n, D = x_t.k_in.shape[-2:]
    if state.S_in.shape[2] != n or state.S_out.shape[2] != n or x_t.q.shape[-1] != D:
        raise ValueError(
            f"delta_mlp: expected {n} blocks of width {D} (from k_in {tuple(x_t.k_in.shape)}), "
            f"got q {tuple(x_t.q.shape)}, S_in {tuple(state.S_in.shape)}, "
            f"S_out {tuple(state.S_out.shape)}"
        )
    h = x_t.q
    S_in, S_out = [], []
    for l in range(n):
        weight, bias = (None, None) if params is None else (params.weight[l], params.bias[l])
        a = _phi(F.layer_norm(h, (D,), weight, bias, LAYER_NORM_EPS))
        u, S1 = delta_step(state.S_in[:, :, l], a, x_t.k_in[:, :, l], x_t.v_in[:, :, l],
                           x_t.beta_in[:, :, l])  # fmt: skip
        o, S2 = delta_step(state.S_out[:, :, l], _phi(u), x_t.k_out[:, :, l],
                           x_t.v_out[:, :, l], x_t.beta_out[:, :, l])  # fmt: skip
        h = h + o
        S_in.append(S1)
        S_out.append(S2)
    return h, State(torch.stack(S_in, dim=2), torch.stack(S_out, dim=2))


@cell_example
def example(
    randn: Sampler,
    batch: int,
    length: int,
    heads: int = 2,
    d: int = 4,
    blocks: int = 2,
    inner: int | None = None,
) -> tuple[Inputs, State, Params]:
    """Random inputs ``[B, T, H, ·]``, a random state, layer-norm params (``F = inner or d``).

    The defaults stay small (``F = d``, two blocks) so that the contract tests' gradcheck of the
    scan stays fast; the paper uses ``F = 4 d_model / n_heads``.
    """
    B, T, H, n = batch, length, heads, blocks
    Fd = d if inner is None else inner
    x = Inputs(
        q=randn(B, T, H, d),
        k_in=_phi(randn(B, T, H, n, d)),
        v_in=randn(B, T, H, n, Fd),
        beta_in=torch.sigmoid(randn(B, T, H, n)),
        k_out=_phi(randn(B, T, H, n, Fd)),
        v_out=randn(B, T, H, n, d),
        beta_out=torch.sigmoid(randn(B, T, H, n)),
    )
    state = State(S_in=0.3 * randn(B, H, n, d, Fd), S_out=0.3 * randn(B, H, n, Fd, d))
    params = Params(weight=1 + 0.1 * randn(n, d), bias=0.1 * randn(n, d))
    return x, state, params


def chunk(x: Inputs, state: State, params: Params | None = None) -> tuple[Tensor, State]:
    """The whole sequence, fast layer by fast layer, each a chunkwise delta rule.

    Every fast layer is written with the slow net's keys and values only; what flows through the
    fast net (the queries ``a``, ``φ(u)``) never changes the weights, so layer ``l`` can run over
    all tokens once the layer below has: ``2n`` chunkwise delta rules instead of a scan.
    """
    n, D = x.k_in.shape[-2:]
    h = x.q  # [B, T, H, D]
    S_in, S_out = [], []
    for l in range(n):
        weight, bias = (None, None) if params is None else (params.weight[l], params.bias[l])
        a = _phi(F.layer_norm(h, (D,), weight, bias, LAYER_NORM_EPS))
        u, S1 = chunk_delta(a, x.k_in[:, :, :, l], x.v_in[:, :, :, l], x.beta_in[..., l],
                            state.S_in[:, :, l], chunk_size=64, scale=1.0)  # fmt: skip
        o, S2 = chunk_delta(_phi(u), x.k_out[:, :, :, l], x.v_out[:, :, :, l],
                            x.beta_out[..., l], state.S_out[:, :, l], chunk_size=64,
                            scale=1.0)  # fmt: skip
        h = h + o
        S_in.append(S1)
        S_out.append(S2)
    return h, State(torch.stack(S_in, dim=2), torch.stack(S_out, dim=2))


# As a layer, the fast net is the official ``CudaDeepFastNetLayer``'s default: one residual block
# (``fast_net_depth=1``) whose hidden width is 4·d_model over the heads, i.e. F = 4·d.
LAYER_BLOCKS = 1
LAYER_INNER = 4


def _layer_width(d: int) -> int:
    Fd = LAYER_INNER * d
    return d + LAYER_BLOCKS * (2 * d + 2 * Fd + 2)


def layer_inputs(raw: Tensor) -> Inputs:
    """A layer's slow projection ``raw [B, T, H, d + n (2d + 2F + 2)]`` -> ``Inputs``: the keys
    φ-mapped, the rates sigmoids; ``q`` raw (the fast net's layer norm and φ act on it inside)."""
    n = LAYER_BLOCKS
    d = (raw.shape[-1] - 2 * n) // (1 + n * (2 + 2 * LAYER_INNER))
    Fd = LAYER_INNER * d
    q, rest = raw.split([d, raw.shape[-1] - d], dim=-1)
    blocks = rest.unflatten(-1, (n, 2 * d + 2 * Fd + 2))  # [B, T, H, n, 2d+2F+2]
    k_in, v_in, beta_in, k_out, v_out, beta_out = blocks.split([d, Fd, 1, Fd, d, 1], dim=-1)
    return Inputs(
        q,
        _phi(k_in),
        v_in,
        torch.sigmoid(beta_in.squeeze(-1)),
        _phi(k_out),
        v_out,
        torch.sigmoid(beta_out.squeeze(-1)),
    )


def _layer_state(H: int, d: int, generator: torch.Generator) -> State:
    n, Fd = LAYER_BLOCKS, LAYER_INNER * d
    return State(torch.zeros(H, n, d, Fd), torch.zeros(H, n, Fd, d))


# as a layer: the layer norms' gains and biases (shared over heads, nn.LayerNorm(d_head)'s init)
# are slow weights inside the fast net; zero fast weights
LAYER = CellSpec(
    width=_layer_width,
    inputs=layer_inputs,
    state=_layer_state,
    params=lambda H, d, generator: Params(
        torch.ones(LAYER_BLOCKS, d), torch.zeros(LAYER_BLOCKS, d)
    ),
    learn_state=False,
)

cell = Cell("delta_mlp", step, {"recurrent": recurrent(step), "chunk": chunk}, example, layer=LAYER)
