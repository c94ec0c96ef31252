"""The sum (Hebbian) rule: linear attention, the outer-product fast weight programmer.

    S_t = S_{t-1} + β_t k_t v_tᵀ          (paper: W_t = W_{t-1} + v_t ⊗ k_t, W = Sᵀ)
    o_t = S_tᵀ q_t

Schmidhuber 1992 ("Learning to control fast-weight memories"); Katharopoulos et al. 2020
(arXiv:2006.16236); Schlag, Irie, Schmidhuber 2021 (arXiv:2102.11174). ``β`` scales each write
(per head, or per value channel); with ``β = 1`` this is unnormalised causal linear attention.

Chunk form: per chunk ``n`` of ``C`` tokens, the state before it is
``S_n = S_0 + Σ_{m<n} K_mᵀ(β V)_m`` (a cumulative sum, all chunks in parallel), and
``O_n = Q_n S_n + tril(Q_n K_nᵀ)(β V)_n``. Autograd keeps only the ``N = T/C`` chunk states,
not one state per token.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops.chunking import gather, scatter
from fastweights.ops.rule import LearningRule, recurrent, value_rate


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: ``S [B,H,K,V]``; ``q_t, k_t [B,H,K]``; ``v_t [B,H,V]``; ``beta_t [B,H(,V)]``.

    ``q_t`` comes scaled. Returns ``(o_t [B, H, V], S_t)``.
    """
    S = S + k_t.unsqueeze(-1) * (value_rate(beta_t, v_t) * v_t).unsqueeze(-2)
    return (q_t.unsqueeze(-2) @ S).squeeze(-2), S


def chunk(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int, scale: float
) -> tuple[Tensor, Tensor]:
    B, T, H, K = q.shape
    V = v.shape[-1]
    N = -(-T // chunk_size)
    qc, kc = gather(q * scale, 0, T, chunk_size), gather(k, 0, T, chunk_size)  # [N·BH, C, K]
    vc = gather(value_rate(beta, v) * v, 0, T, chunk_size)  # [N·BH, C, V]
    writes = (kc.mT @ vc).view(N, B * H, K, V)  # each chunk's sum of outer products
    S0 = state.reshape(1, B * H, K, V)
    before = torch.cat([S0, writes[:-1]]).cumsum(0)  # [N, BH, K, V]: state entering each chunk
    final = before[-1] + writes[-1]
    attn = (qc @ kc.mT).tril()  # [N·BH, C, C], causal including the token itself
    o_chunks = torch.baddbmm(attn @ vc, qc, before.flatten(0, 1))  # [N·BH, C, V]
    o = q.new_empty(B, T, H, V)
    scatter(o_chunks, o, 0, T)
    return o, final.view(B, H, K, V)


sum_rule = LearningRule("sum", step, {"recurrent": recurrent(step), "chunk": chunk})
