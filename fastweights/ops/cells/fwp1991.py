"""The 1991 Fast Weight Programmer: a slow net writes outer products into a separate fast net.

    W_t = σ(W_{t-1} + b_t ⊗ a_t)       (library: S_t = σ(S_{t-1} + a_t b_tᵀ), S = Wᵀ)
    y_t = f(W_t x_t)                   (library: y_t = f(S_tᵀ x_t))

Schmidhuber, "Learning to control fast-weight memories: an alternative to dynamic recurrent
networks", Neural Computation 4(1):131–139, 1992 (tech report FKI-147-91, TU Munich, 1991). A slow
feed-forward net reads ``x_t`` and emits a FROM pattern ``a_t`` (one unit per fast-net input unit,
today's key) and a TO pattern ``b_t`` (one unit per fast-net output unit, today's value); every
fast weight changes by the product of its FROM and TO activations. The fast net is separate: it
maps the raw input ``x_t`` (not a query) through the fresh weights. ``σ`` acts on the weights
(``"identity"`` or a squashing such as ``"tanh"``); ``f`` is an optional output nonlinearity.

With σ = f = identity the cell is the sum rule with ``β = 1``, ``scale = 1`` and ``x`` as the
query: ``fwp1991(x, a, b) == RULES["sum"](q=x, k=a, v=b, beta=1, scale=1.0)``.

Layouts (per token): ``x, a: [B, H, D_in]``, ``b: [B, H, D_out]``, state ``S: [B, H, D_in,
D_out]``; sequences carry time at dim 1. The slow net's projections (``a``, ``b``) are computed
outside, in parallel over time, and arrive as inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import torch
from torch import Tensor

from fastweights.ops.cell import Cell, CellSpec, CellStep, Sampler, cell_example, recurrent
from fastweights.ops.rules.sum import sum_rule

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


class Inputs(NamedTuple):
    """One token (or, with time at dim 1, a sequence) of the 1991 FWP."""

    x: Tensor  # [B, H, D_in]   the fast net's input
    a: Tensor  # [B, H, D_in]   FROM pattern (key)
    b: Tensor  # [B, H, D_out]  TO pattern (value)


class State(NamedTuple):
    """Fast weights ``S = Wᵀ [B, H, D_in, D_out]``; ``S[..., j, i]`` joins input j to output i."""

    S: Tensor


def _activation(name: str, role: str) -> Callable[[Tensor], Tensor]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown {role} {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def make_step(squash: str = "identity", output: str = "identity") -> CellStep:
    """The one-token step with weight squashing ``σ = squash`` and output nonlinearity ``f``."""
    sigma = _activation(squash, "squash")
    f = _activation(output, "output nonlinearity")

    def step(state: State, x_t: Inputs, params: None = None) -> tuple[Tensor, State]:
        """``state.S [B,H,D_in,D_out]``; ``x_t = (x, a [B,H,D_in], b [B,H,D_out])``.

        Returns ``(y_t [B, H, D_out], State(S_t))``; ``S`` keeps its dtype, ``y`` has ``x``'s.
        """
        S = state.S
        x, a, b = (t.to(S.dtype) for t in x_t)
        S = sigma(S + a.unsqueeze(-1) * b.unsqueeze(-2))  # [B, H, D_in, 1] * [B, H, 1, D_out]
        y = f((x.unsqueeze(-2) @ S).squeeze(-2))  # [B, H, 1, D_in] @ S -> [B, H, D_out]
        return y.to(x_t.x.dtype), State(S)

    return step


def make_example(squash: str = "identity") -> Callable[..., tuple[Inputs, State, None]]:
    @cell_example
    def example(
        randn: Sampler, batch: int, length: int, *, heads: int = 2, d_in: int = 4, d_out: int = 3
    ) -> tuple[Inputs, State, None]:
        """Unit-norm ``x, a, b`` (time at dim 1) and a small random initial state ``S0``.

        Under ``σ = identity`` the weights grow like ``√T``: unit-norm writes in random directions.
        """

        def unit(*shape: int) -> Tensor:
            return torch.nn.functional.normalize(randn(*shape), dim=-1)

        x = Inputs(
            x=unit(batch, length, heads, d_in),
            a=unit(batch, length, heads, d_in),
            b=unit(batch, length, heads, d_out),
        )
        S0 = ACTIVATIONS[squash](0.5 * randn(batch, heads, d_in, d_out))  # a state σ could make
        return x, State(S0), None

    return example


def make_chunk(output: str = "identity") -> Callable[..., tuple[Tensor, State]]:
    """Without squashing the 1991 FWP is the sum rule with ``β = 1``, ``scale = 1`` and the input
    as the query, so it runs in the sum rule's chunk form (then ``f`` on the outputs)."""
    f = _activation(output, "output nonlinearity")

    def chunk(x: Inputs, state: State, params: None = None) -> tuple[Tensor, State]:
        ones = x.x.new_ones(x.x.shape[:3])
        o, S = sum_rule(x.x, x.a, x.b, ones, impl="chunk", scale=1.0, initial_state=state.S)
        return f(o), State(S)

    return chunk


def make_cell(squash: str = "identity", output: str = "identity") -> Cell:
    """A 1991 FWP cell named ``fwp1991``, plus ``_<squash>``, ``_out_<output>`` if not identity.

    Forms: ``recurrent``; without squashing also ``chunk`` (the sum rule's chunk form).
    """
    step = make_step(squash, output)
    name = "fwp1991"
    name += "" if squash == "identity" else f"_{squash}"
    name += "" if output == "identity" else f"_out_{output}"
    forms = {"recurrent": recurrent(step)}
    if squash == "identity":
        forms["chunk"] = make_chunk(output)
    return Cell(name, step, forms, make_example(squash))


def initial_state(
    batch: int, heads: int, d_in: int, d_out: int, *, dtype: torch.dtype = torch.float32
) -> State:
    """Empty fast weights (zeros)."""
    return State(torch.zeros(batch, heads, d_in, d_out, dtype=dtype))


# as a layer: the slow net emits FROM (a) and TO (b) patterns; the fast net reads the input x
# itself; the fast weights start at zero
LAYER = CellSpec(
    width=lambda d: 3 * d,
    inputs=lambda raw: Inputs(*raw.chunk(3, dim=-1)),
    state=lambda H, d, generator: State(torch.zeros(H, d, d)),
    learn_state=False,
)

# σ = identity: the outer-product FWP of 1991 (unnormalised linear attention)
cell = replace(make_cell(), layer=LAYER)
cell_tanh = make_cell("tanh")  # σ = tanh: squashed fast weights, bounded in (-1, 1)
step = cell.step
