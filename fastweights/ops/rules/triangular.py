"""Inverse of a unit lower-triangular matrix ``T = (I + A)⁻¹`` by matrix products only.

The chunkwise delta rule needs ``T`` for a strictly lower-triangular ``A`` of size ``C × C`` per
chunk. LAPACK's batched triangular solve runs at a few GFLOP/s on such small matrices on CPU,
while products of small matrices run near the matmul ceiling. So, with blocks of ``b = 16``:

* every diagonal block at once by the nilpotent series
  ``(I + A_ii)⁻¹ = Σ_j (−A_ii)^j = (I − A_ii)(I + A_ii²)(I + A_ii⁴)(I + A_ii⁸)``;
* then block rows by forward substitution, ``T_{i,<i} = −T_ii (A_{i,<i} T_{<i,<i})``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BLOCK = 16


def nilpotent_inverse(A: Tensor) -> Tensor:
    """``(I + A)⁻¹`` for strictly lower-triangular ``A [..., n, n]``: ``⌈log₂ n⌉ − 1`` doublings."""
    n = A.shape[-1]
    T = torch.eye(n, dtype=A.dtype, device=A.device) - A  # Σ_{j<2} (−A)^j
    power, covered = A, 2
    while covered < n:
        power = power @ power  # A^covered
        T = T + T @ power  # Σ_{j<2·covered} (−A)^j
        covered *= 2
    return T


def unit_lower_inverse(A: Tensor) -> Tensor:
    """``(I + A)⁻¹`` for ``A [B, n, n]`` strictly lower-triangular (its upper part must be 0)."""
    n = A.shape[-1]
    b = min(n, BLOCK)
    nb = -(-n // b)
    if nb * b != n:  # zero rows/columns: identity there, cropped at the end
        A = F.pad(A, (0, nb * b - n, 0, nb * b - n))
    m = nb * b
    # [B, nb, b, nb, b] -> diagonal blocks [B, nb, b, b]
    diag = torch.diagonal(A.view(-1, nb, b, nb, b), dim1=1, dim2=3).permute(0, 3, 1, 2)
    T_diag = nilpotent_inverse(diag.contiguous())
    T = A.new_zeros(A.shape[0], m, m)
    T.view(-1, nb, b, nb, b).diagonal(dim1=1, dim2=3).copy_(T_diag.permute(0, 2, 3, 1))
    for i in range(1, nb):
        rows, left = slice(i * b, (i + 1) * b), slice(0, i * b)
        T[:, rows, left] = -(T_diag[:, i] @ (A[:, rows, left] @ T[:, left, left]))
    return T[:, :n, :n] if m != n else T
