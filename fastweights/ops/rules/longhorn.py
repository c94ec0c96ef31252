"""Longhorn: the delta rule as the closed-form solution of an online regression objective.

Per value channel ``j`` (column ``s_j`` of ``S``), the new state solves

    s_{t,j} = argmin_s ‖s − s_{t-1,j}‖² + β_{t,j} (sᵀ k_t − v_{t,j})²

whose solution is a delta step with the rate ``ε = β / (1 + β ‖k_t‖²)``::

    ε_{t,j} = β_{t,j} / (1 + β_{t,j} ‖k_t‖²)
    S_t = S_{t-1} + k_t (ε_t ⊙ (v_t − S_{t-1}ᵀ k_t))ᵀ      (= (I − ε k kᵀ) s + ε v_j k per channel)
    o_t = S_tᵀ q_t

Liu, Wang, Wu, Liu, Qiang 2024, "Longhorn: State Space Models are Amortized Online Learners"
(arXiv:2407.14207). ``ε ‖k‖² < 1`` for every ``β ≥ 0``, so the step never overshoots and keys
need no normalisation; the objective needs ``β ≥ 0`` (checked). Longhorn has no separate forget
gate: ``ε`` both writes and forgets. This is the exact closed form (full ``k kᵀ``); the paper's
model runs a diagonal approximation ``(1 − ε ⊗ k²) ⊙ S`` through a diagonal scan kernel, which
is not this rule. ``β`` is one rate per head or per value channel (the paper's ``β ∈ R^d``).
Forms: ``recurrent`` (scan of ``step``) and ``chunk`` (the delta rule's WY/UT chunk form with the
rates ``ε``, ``fastweights.ops.rules.delta_chunk``).
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor

from fastweights.ops.rule import LearningRule, RuleSpec, scan
from fastweights.ops.rules import delta
from fastweights.ops.rules.delta_chunk import chunk_delta


def step_size(beta: Tensor, k: Tensor) -> Tensor:
    """``ε = β / (1 + β ‖k‖²)``; ``beta [.., H]`` or ``[.., H, V]``, ``k [.., H, K]``."""
    k_sq = k.square().sum(-1)  # [.., H]
    if beta.dim() == k.dim():  # per value channel
        k_sq = k_sq.unsqueeze(-1)
    return beta / (1 + beta * k_sq)


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: a delta step with the rate ``ε(β_t, k_t)``; shapes as ``delta.step``."""
    return delta.step(S, q_t, k_t, v_t, step_size(beta_t, k_t))


def _check_weight(beta: Tensor) -> None:
    # skipped while torch.compile traces (a data-dependent branch would break the graph), as
    # ops.checks does for finiteness
    if "torch._dynamo" in sys.modules and torch.compiler.is_compiling():
        return
    if bool((beta < 0).any()):
        raise ValueError(
            f"longhorn: beta must be >= 0 (the objective's weight), got min {beta.min().item():g}"
        )


def _recurrent(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int, scale: float
) -> tuple[Tensor, Tensor]:
    _check_weight(beta)
    return scan(step, q * scale, k, v, beta, state)


def _chunk(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int, scale: float
) -> tuple[Tensor, Tensor]:
    _check_weight(beta)
    eps = step_size(beta, k)  # [B, T, H(, V)], differentiated by autograd
    return chunk_delta(q, k, v, eps, state, chunk_size=chunk_size, scale=scale)


# as a layer: no normalisation of q and k (ε bounds the step for any key) and a learned β
longhorn_rule = LearningRule(
    "longhorn", step, {"recurrent": _recurrent, "chunk": _chunk},
    layer=RuleSpec(feature_map="identity", norm=None, learn_beta=True),
)  # fmt: skip
