"""Titans' linear neural memory: fast weights trained by gradient descent with momentum and decay.

With the memory ``M`` (``S = Mᵀ``), the loss ``ℓ(M; k, v) = ½ ‖M k − v‖²`` and its gradient
``∇ = (M k − v) kᵀ``, one token does::

    P_t = η_t P_{t-1} − θ_t ∇ℓ(M_{t-1}; k_t, v_t)      (momentum: the "surprise")
    M_t = (1 − α_t) M_{t-1} + P_t                      (weight decay: the forgetting)
    o_t = M_t q_t

Behrouz, Zhong, Mirrokni 2025, "Titans: Learning to Memorize at Test Time" (arXiv:2501.00663),
with the linear memory. ``beta`` is the inner learning rate ``θ_t`` ``[B, T, H]`` (``θ ≥ 0``
expected, not enforced); the gates are log-values ``[B, T, H]``: ``g = log(1 − α_t)`` (retention)
and ``eta = log η_t`` (momentum). With ``η = 0`` and ``α = 0`` this is the delta rule with
``β = θ``. (The paper writes ``‖M k − v‖²``; its factor 2 is absorbed in the learned ``θ``.)

State: ``[B, H, K, 2V]``, the memory ``S = Mᵀ`` then the momentum ``Pᵀ`` along the last axis; an
``initial_state [B, H, K, V]`` is a memory with zero momentum. The shared wrapper sees ``v``
padded with ``V`` zero channels so that the ``2V``-wide state passes its checks; the forms drop
them. Varlen (``cu_seqlens``) runs each sequence alone: a zero token is no no-op here (the
momentum keeps moving the memory), so the shared zero padding would be wrong.

Forms: ``recurrent`` (scan of ``step``) and ``chunk`` (``fastweights.ops.rules.titans_chunk``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.ops.checks import check_cu_seqlens
from fastweights.ops.rule import LearningRule, Output, RuleSpec, scan
from fastweights.ops.rules.titans_chunk import chunk_titans


def step(
    S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor, *, g: Tensor, eta: Tensor
) -> tuple[Tensor, Tensor]:
    """One token: ``S [B,H,K,2V]`` (memory | momentum; ``[B,H,K,V]``: zero momentum);
    ``q_t, k_t [B,H,K]`` (``q_t`` scaled); ``v_t [B,H,V]``; ``beta_t = θ_t``, ``g``, ``eta [B,H]``.
    """
    V = v_t.shape[-1]
    M, P = (S, torch.zeros_like(S)) if S.shape[-1] == V else S.split(V, dim=-1)
    error = v_t - (k_t.unsqueeze(-2) @ M).squeeze(-2)  # v − M k  [B, H, V]
    # −θ ∇ℓ = θ k (v − M k)ᵀ in the S = Mᵀ layout
    P = eta.exp()[..., None, None] * P + k_t.unsqueeze(-1) * (
        beta_t.unsqueeze(-1) * error
    ).unsqueeze(-2)
    M = g.exp()[..., None, None] * M + P
    return (q_t.unsqueeze(-2) @ M).squeeze(-2), torch.cat([M, P], dim=-1)


def _recurrent(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int,
    scale: float, g: Tensor, eta: Tensor,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    V = v.shape[-1] // 2  # v comes padded with V zero channels (see the module docstring)
    return scan(step, q * scale, k, v[..., :V], beta, state, g=g, eta=eta)


def _chunk(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int,
    scale: float, g: Tensor, eta: Tensor,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    V = v.shape[-1] // 2
    return chunk_titans(q * scale, k, v[..., :V], beta, state, g, eta, chunk_size)


@dataclass(frozen=True)
class TitansRule(LearningRule):
    """A ``LearningRule`` whose state carries the momentum: ``[B, H, K, 2V]`` (see above)."""

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
        options = {"impl": impl, "scale": scale, "chunk_size": chunk_size, **gates}
        if cu_seqlens is not None and isinstance(q, Tensor) and q.dim() == 4:
            return self._each_sequence(q, k, v, beta, initial_state, cu_seqlens, options)
        if not (isinstance(v, Tensor) and v.dim() == 4):  # the shared checks report it
            return super().__call__(q, k, v, beta, initial_state=initial_state, **options)
        V = v.shape[-1]
        if isinstance(initial_state, Tensor) and initial_state.dim() == 4:
            if initial_state.shape[-1] == V:  # a memory without momentum
                initial_state = torch.cat([initial_state, torch.zeros_like(initial_state)], -1)
            elif initial_state.shape[-1] != 2 * V:  # the shared checks name the expected shape
                return super().__call__(q, k, v, beta, initial_state=initial_state, **options)
        padded = torch.cat([v, torch.zeros_like(v)], dim=-1)  # [B, T, H, 2V]
        return super().__call__(q, k, padded, beta, initial_state=initial_state, **options)

    def _each_sequence(
        self, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, initial_state: Tensor | None,
        cu_seqlens: Tensor, options: dict,
    ) -> Output:  # fmt: skip
        lengths = check_cu_seqlens(cu_seqlens, q.shape[0], q.shape[1])
        if isinstance(initial_state, Tensor) and initial_state.shape[:1] != (len(lengths),):
            raise ValueError(
                f"{self.name}: initial_state must hold one state per sequence, "
                f"[N = {len(lengths)}, H, K, V or 2V], got {list(initial_state.shape)}"
            )
        outputs, states, start = [], [], 0
        for i, n in enumerate(lengths):
            part = {
                name: x[:, start : start + n] for name, x in options.items() if name in self.gates
            }
            out = self(
                q[:, start : start + n], k[:, start : start + n], v[:, start : start + n],
                beta[:, start : start + n], **{**options, **part},
                initial_state=None if initial_state is None else initial_state[i : i + 1],
            )  # fmt: skip
            outputs.append(out.o)
            states.append(out.state)
            start += n
        return Output(torch.cat(outputs, dim=1), torch.cat(states, dim=0))


# as a layer: L2-normalised q and k (as the paper's memory), a learned θ and the learned gates
titans_rule = TitansRule(
    "titans", step, {"recurrent": _recurrent, "chunk": _chunk}, gates=("g", "eta"),
    per_channel_beta=False, layer=RuleSpec(feature_map="identity", norm="l2", learn_beta=True),
)  # fmt: skip
