"""TTT-Linear with mini-batches of ``b`` tokens: the primal form and the dual form.

Within a mini-batch entered with ``S_s`` every token's gradient is taken at ``S_s``, and token
``t``'s weights are ``S_t = S_s − Σ_{s<τ≤t} η_τ k_τ g_τᵀ`` with ``g_τ = ∂ℓ/∂z`` at
``z = S_sᵀ k_τ`` (Sun et al. 2024, arXiv:2407.04620, §2.4–2.5). The primal form builds every
``S_t``; the dual form never does::

    Z = K S_s,   G = ∂ℓ/∂Z (row-wise),   O = Q S_s − (tril(Q Kᵀ) ⊙ η_τ) G
    S_end = S_s − Kᵀ diag(η) G

with the rule's linear read-out ``o_t = S_tᵀ q_t`` (the inner model's output is ``q + LN(o)``).
The paper shows the two equal (tested here in float64). ``b = 1`` is ``RULES["ttt_linear"]``'s
recurrence. ``normalise=False`` drops the LayerNorm from the loss (``‖Sᵀk − v‖² / 2V``):
with ``b = 1`` that is the delta rule with ``β = η / V``. Layout as the rules: ``q`` (already
scaled), ``k [B, T, H, K]``, ``v [B, T, H, V]``, ``eta [B, T, H]``, ``S [B, H, K, V]``; the last
mini-batch may be shorter. These are functions, not forms of a registered rule: a mini-batch
recurrence depends on where its mini-batches start, which the rule contract's state cannot carry.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops.rules.ttt_linear import loss_gradient


def _check(b: int) -> None:
    if isinstance(b, bool) or not isinstance(b, int) or b < 1:
        raise ValueError(f"mini-batch size b must be an int >= 1, got {b!r}")


def _heads_first(x: Tensor) -> Tensor:
    return x.transpose(1, 2)  # [B, T, H, ..] -> [B, H, T, ..]


def minibatch_primal(
    q: Tensor, k: Tensor, v: Tensor, eta: Tensor, S: Tensor, b: int, *, normalise: bool = True
) -> tuple[Tensor, Tensor]:
    """Token by token, each mini-batch's gradients at its start weights -> ``(o, S_end)``."""
    _check(b)
    T = q.shape[1]
    outputs = []
    for t0 in range(0, T, b):
        S_start, S_t = S, S
        for t in range(t0, min(t0 + b, T)):
            z = (k[:, t].unsqueeze(-2) @ S_start).squeeze(-2)  # at the mini-batch's start
            g = loss_gradient(z, v[:, t], normalise=normalise)
            S_t = S_t - k[:, t].unsqueeze(-1) * (eta[:, t, :, None] * g).unsqueeze(-2)
            outputs.append((q[:, t].unsqueeze(-2) @ S_t).squeeze(-2))
        S = S_t
    return torch.stack(outputs, dim=1), S


def minibatch_dual(
    q: Tensor, k: Tensor, v: Tensor, eta: Tensor, S: Tensor, b: int, *, normalise: bool = True
) -> tuple[Tensor, Tensor]:
    """The dual form: matrix products per mini-batch, no per-token weights -> ``(o, S_end)``."""
    _check(b)
    parts = [_heads_first(x).split(b, dim=2) for x in (q, k, v, eta)]
    outputs = []
    for Q, K, V_, e in zip(*parts, strict=True):  # [B, H, b, D], eta [B, H, b]
        G = loss_gradient(K @ S, V_, normalise=normalise)  # [B, H, b, V]
        A = (Q @ K.mT).tril() * e.unsqueeze(-2)  # A_tτ = (q_t·k_τ) η_τ, τ ≤ t
        outputs.append(Q @ S - A @ G)
        S = S - K.mT @ (e.unsqueeze(-1) * G)
    return _heads_first(torch.cat(outputs, dim=2)), S
