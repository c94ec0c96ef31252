"""DeltaProduct: ``n_h`` delta-rule steps per token, each with its own key, value and rate.

    S_{t,0} = S_{t-1}
    S_{t,j} = (I − β_{t,j} k_{t,j} k_{t,j}ᵀ) S_{t,j-1} + β_{t,j} k_{t,j} v_{t,j}ᵀ,   j = 1..n_h
    S_t = S_{t,n_h},   o_t = S_tᵀ q_t

so a token's state transition is a product of ``n_h`` generalised Householder matrices (Siems,
Carstensen, Zela, Hutter, Pontil, Grazzi 2025, "DeltaProduct", arXiv:2502.10297); ``n_h = 1`` is
the delta rule (DeltaNet). With unit keys, ``β ∈ (0, 2)`` gives each factor the eigenvalue
``1 − β ∈ (−1, 1)`` along ``k``: the negative range that lets the rule track states (Grazzi et
al. 2025, arXiv:2411.12537). The rule takes any finite β, as ``delta`` does.

Layout: ``q [B, T, H, K]``, ``k [B, T, H, n_h, K]``, ``v [B, T, H, n_h, V]``,
``beta [B, T, H, n_h]``; the plain layout (``k [B, T, H, K]``, ``beta [B, T, H]``) is
``n_h = 1``. One rate per step and head (no per-channel β).

Forms: the ``n_h`` steps of token ``t`` are the micro-steps ``t·n_h .. t·n_h + n_h − 1`` of one
delta rule over ``T·n_h`` steps, whose query is ``q_t`` at the last micro-step and zero before
it; ``recurrent`` and ``chunk`` are the delta rule's forms over that sequence, the output is read
at every ``n_h``-th micro-step. ``step`` is the token step above, tested equal to both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.ops.rule import LearningRule, Output, RuleSpec, recurrent
from fastweights.ops.rules import delta
from fastweights.ops.rules.delta_chunk import chunk_delta


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: ``S [B,H,K,V]``; ``q_t [B,H,K]`` (scaled); ``k_t [B,H,n_h,K]`` (or ``[B,H,K]``);
    ``v_t [B,H,n_h,V]`` (or ``[B,H,V]``); ``beta_t [B,H,n_h]`` (or ``[B,H]``). -> ``(o_t, S_t)``."""
    if k_t.dim() == 3:  # n_h = 1
        k_t, v_t, beta_t = k_t.unsqueeze(2), v_t.unsqueeze(2), beta_t.unsqueeze(-1)
    for k_j, v_j, beta_j in zip(k_t.unbind(2), v_t.unbind(2), beta_t.unbind(-1), strict=True):
        S = delta.step(S, q_t, k_j, v_j, beta_j)[1]
    return (q_t.unsqueeze(-2) @ S).squeeze(-2), S


def _check_steps(name: str, q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> int:
    """The number of steps ``n_h`` of 5-D ``k, v`` and 4-D ``beta``, checked against ``q``."""
    if q.dim() != 4:
        raise ValueError(f"{name}: q must be 4-D [B, T, H, K], got shape {list(q.shape)}")
    B, T, H, K = q.shape
    n_h = k.shape[3]
    if n_h < 1:
        raise ValueError(f"{name}: n_h (k.shape[3]) must be >= 1, got {n_h}")
    if tuple(k.shape) != (B, T, H, n_h, K):
        raise ValueError(
            f"{name}: k must have shape [B, T, H, n_h, K] = {[B, T, H, n_h, K]}, "
            f"got {list(k.shape)}"
        )
    if v.dim() != 5 or tuple(v.shape[:4]) != (B, T, H, n_h):
        raise ValueError(
            f"{name}: v must have shape [B, T, H, n_h, V] = [{B}, {T}, {H}, {n_h}, V], "
            f"got {list(v.shape)}"
        )
    if tuple(beta.shape) != (B, T, H, n_h):
        raise ValueError(
            f"{name}: beta must have shape [B, T, H, n_h] = {[B, T, H, n_h]}, "
            f"got {list(beta.shape)}"
        )
    return n_h


def _micro_steps(x: Tensor) -> Tensor:
    """``[B, T, H, n_h, ..]`` -> ``[B, T·n_h, H, ..]``: step j of token t at ``t·n_h + j``."""
    B, T, H, n_h = x.shape[:4]
    return x.transpose(2, 3).reshape(B, T * n_h, H, *x.shape[4:])


@dataclass(frozen=True)
class DeltaProductRule(LearningRule):
    """A ``LearningRule`` whose ``k, v, beta`` may carry ``n_h`` steps per token (see above)."""

    def __call__(  # type: ignore[override]
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        beta: Tensor,
        *,
        impl: str,
        scale: float | None = None,
        initial_state: Tensor | None = None,
        chunk_size: int = 64,
        cu_seqlens: Tensor | None = None,
        **gates: Tensor,
    ) -> Output:
        options = {"impl": impl, "initial_state": initial_state, "chunk_size": chunk_size}
        if not (isinstance(k, Tensor) and k.dim() == 5):  # n_h = 1: the delta rule's layout
            return super().__call__(q, k, v, beta, **options, scale=scale,
                                    cu_seqlens=cu_seqlens, **gates)  # fmt: skip
        for what, x in (("q", q), ("v", v), ("beta", beta)):
            if not isinstance(x, Tensor):
                raise TypeError(
                    f"{self.name}: {what} must be a torch.Tensor, got {type(x).__name__}"
                )
        n_h = _check_steps(self.name, q, k, v, beta)
        B, T, H, K = q.shape
        # the query reads at the last micro-step of each token: [B, T·n_h, H, K]
        q_micro = torch.cat([q.new_zeros(B, T, n_h - 1, H, K), q.unsqueeze(2)], dim=2)
        q_micro = q_micro.view(B, T * n_h, H, K)
        if isinstance(cu_seqlens, Tensor):  # each sequence's micro-steps
            cu_seqlens = cu_seqlens * n_h
        out = super().__call__(
            q_micro, _micro_steps(k), _micro_steps(v), _micro_steps(beta.unsqueeze(-1))[..., 0],
            **options, scale=scale, cu_seqlens=cu_seqlens,
            **gates,
        )  # fmt: skip
        o = out.o.view(out.o.shape[0], -1, n_h, H, out.o.shape[-1])[:, :, -1]  # [B, T, H, V]
        return Output(o, out.state)


# as a layer: DeltaNet's L2-normalised q and k and a learned β (the minimal layer has n_h = 1;
# fastweights.nn.DeltaProductNet projects n_h keys, values and rates per token)
delta_product_rule = DeltaProductRule(
    "delta_product", step, {"recurrent": recurrent(delta.step), "chunk": chunk_delta},
    per_channel_beta=False, layer=RuleSpec(feature_map="identity", norm="l2", learn_beta=True),
)  # fmt: skip
