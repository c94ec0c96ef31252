"""Shared fixtures for the learning-rule tests: random rule inputs and a nonlinear loss.

Helpers are handed out as fixtures (factories) so test modules need not import this file.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import RULES, Output

MakeInputs = Callable[..., dict[str, Tensor]]


def _make_inputs(
    rule_name: str,
    B: int = 2,
    T: int = 9,
    H: int = 2,
    K: int = 4,
    V: int = 3,
    *,
    per_channel: bool = False,
    initial_state: bool = True,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    requires_grad: bool = False,
) -> dict[str, Tensor]:
    """Random inputs for ``RULES[rule_name]`` as keyword arguments (``q, k, v, beta``, gates, S0).

    ``q, k, v`` are L2-normalised per token and ``beta ∈ (0, 1)``, so every rule (the delta rules
    and Oja's rule included) stays bounded; each gate is a moderate log-decay
    ``logsigmoid(randn + 2) ≤ 0``. All tensors are leaves; ``initial_state`` is ``[B, H, K, V]``.
    """
    rule = RULES[rule_name]
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    inputs = {
        "q": F.normalize(randn(B, T, H, K), dim=-1),
        "k": F.normalize(randn(B, T, H, K), dim=-1),
        "v": F.normalize(randn(B, T, H, V), dim=-1),
        "beta": torch.sigmoid(randn(B, T, H, V) if per_channel else randn(B, T, H)),
    }
    for gate in rule.gates:
        inputs[gate] = F.logsigmoid(randn(B, T, H) + 2.0)
    if initial_state:
        inputs["initial_state"] = 0.5 * randn(B, H, K, V)
    return {
        name: x.to(dtype).requires_grad_(requires_grad and x.is_floating_point())
        for name, x in inputs.items()
    }


def _nonlinear_loss(out: Output) -> Tensor:
    """A loss whose gradients w.r.t. ``o`` and ``state`` depend on their values (not all ones)."""
    o, state = out
    return (o * o.cos()).sum() + state.sin().sum()


@pytest.fixture
def make_inputs() -> MakeInputs:
    return _make_inputs


@pytest.fixture
def nonlinear_loss() -> Callable[[Output], Tensor]:
    return _nonlinear_loss
