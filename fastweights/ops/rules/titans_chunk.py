"""The exact chunkwise form of Titans' linear memory with momentum (``ops.rules.titans``).

Per token, with ``a_t = e^{g_t} = 1 − α_t``, ``η_t = e^{eta_t}`` and the update
``u_t = θ_t (v_t − M_{t-1}ᵀ k_t)``: ``P_t = η_t P_{t-1} + k_t u_tᵀ``, ``M_t = a_t M_{t-1} + P_t``
(``S = Mᵀ`` layout). Inside a chunk entered with ``(M, P)``, let ``A_i = Π_{s≤i} a_s``,
``E_i = Π_{s≤i} η_s``, the masks ``D^a_im = A_i / A_m`` and ``D^η_mj = E_m / E_j`` (lower
triangular, diagonal included). Unrolling both recurrences gives::

    M_i = A_i M + b_i P + Σ_{j≤i} c_ij k_j u_jᵀ,     b = D^a E,   c = D^a D^η
    P_i = E_i P + Σ_{j≤i} (E_i / E_j) k_j u_jᵀ

so the updates solve a unit lower-triangular system (``c̃_ij = c_{i−1,j}``, ``A_0 = 1``,
``b_0 = 0``)::

    (I + diag(θ) (K Kᵀ ⊙ c̃)) U = diag(θ) (V − diag(A_{i−1}) K M − diag(b_{i−1}) K P)
    O = diag(A) Q M + diag(b) Q P + (Q Kᵀ ⊙ c) U

and the chunk leaves ``M' = A_C M + b_C P + (c_C ⊙ K)ᵀ U``, ``P' = E_C P + (E_C / E ⊙ K)ᵀ U``.
With ``η = 0`` this is the (gated) delta rule's WY form. Gradients come from autograd through
the chunk loop (the chunks are split once, so the backward stays linear in ``T``); the last chunk
may be shorter, so no padding token touches the state.
"""

from __future__ import annotations

import torch
from torch import Tensor

_EXP_FLOOR = -87.0  # below it float32 exp underflows and runs ~36× slower (docs/ops.md)


def _mask(gamma: Tensor) -> Tensor:
    """``[exp(Γ_i − Γ_j)]_{j≤i}``, zero above the diagonal; ``gamma [.., C]`` -> ``[.., C, C]``."""
    diff = (gamma.unsqueeze(-1) - gamma.unsqueeze(-2)).tril()  # zeroed above before exp
    return diff.clamp_min(_EXP_FLOOR).exp().tril()


def _chunk(
    q: Tensor, k: Tensor, v: Tensor, theta: Tensor, g: Tensor, eta: Tensor, M: Tensor, P: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One chunk: ``q, k [BH, C, K]``, ``v [BH, C, V]``, rates and gates ``[BH, C]``."""
    ga, ge = g.cumsum(-1), eta.cumsum(-1)
    Da, De = _mask(ga), _mask(ge)
    A, E = ga.clamp_min(_EXP_FLOOR).exp(), ge.clamp_min(_EXP_FLOOR).exp()  # [BH, C]
    b = (Da @ E.unsqueeze(-1)).squeeze(-1)  # [BH, C]
    c = Da @ De  # [BH, C, C], lower triangular
    one, zero = A.new_ones(A.shape[0], 1), A.new_zeros(A.shape[0], 1)
    A_prev, b_prev = torch.cat([one, A[:, :-1]], -1), torch.cat([zero, b[:, :-1]], -1)
    c_prev = torch.cat([c.new_zeros(c.shape[0], 1, c.shape[-1]), c[:, :-1]], dim=1)
    rate = theta.unsqueeze(-1)  # [BH, C, 1]
    eye = torch.eye(k.shape[1], dtype=k.dtype, device=k.device)
    L = eye + rate * (k @ k.mT * c_prev)  # unit lower triangular
    R = rate * (v - A_prev.unsqueeze(-1) * (k @ M) - b_prev.unsqueeze(-1) * (k @ P))
    U = torch.linalg.solve_triangular(L, R, upper=False, unitriangular=True)  # [BH, C, V]
    o = A.unsqueeze(-1) * (q @ M) + b.unsqueeze(-1) * (q @ P) + (q @ k.mT * c) @ U
    M_next = A[:, -1:, None] * M + b[:, -1:, None] * P + (k * c[:, -1].unsqueeze(-1)).mT @ U
    to_end = (ge[:, -1:] - ge).clamp_min(_EXP_FLOOR).exp().unsqueeze(-1)  # E_C / E_j
    P_next = E[:, -1:, None] * P + (k * to_end).mT @ U
    return o, M_next, P_next


def chunk_titans(
    q: Tensor, k: Tensor, v: Tensor, theta: Tensor, state: Tensor, g: Tensor, eta: Tensor,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``q`` (scaled), ``k [B, T, H, K]``, ``v [B, T, H, V]``, ``theta, g, eta [B, T, H]``,
    ``state [B, H, K, 2V]`` (memory | momentum) -> ``(o [B, T, H, V], state)``."""
    B, T, H, K = q.shape
    V = v.shape[-1]

    def chunks(x: Tensor) -> tuple[Tensor, ...]:
        # [B, T, H, ..] -> [B·H, T, ..], split once into chunks along T
        x = x.transpose(1, 2).reshape(B * H, T, *x.shape[3:])
        return x.split(chunk_size, dim=1)

    M, P = state.reshape(B * H, K, 2 * V).split(V, dim=-1)
    outputs = []
    for parts in zip(*(chunks(x) for x in (q, k, v, theta, g, eta)), strict=True):
        o, M, P = _chunk(*parts, M, P)
        outputs.append(o)
    o = torch.cat(outputs, dim=1).view(B, H, T, V).transpose(1, 2)  # [B, T, H, V]
    return o, torch.cat([M, P], dim=-1).view(B, H, K, 2 * V)
