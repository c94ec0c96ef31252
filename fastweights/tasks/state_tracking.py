"""State tracking: the running product of a sequence of group elements, with length generalisation.

The word problem of a finite group (Liu et al. 2023, arXiv:2210.10749; Merrill et al. 2024,
arXiv:2404.08819), as Grazzi et al. 2025 ("Unlocking state-tracking in linear RNNs through
negative eigenvalues", arXiv:2411.12537) and Siems et al. 2025 (DeltaProduct, arXiv:2502.10297)
train it: the model reads group elements ``g_1 … g_n`` (as ids) and after each prefix it names the
element ``p_t = g_t · p_{t-1}`` (``p_1 = g_1``), the running product.

Groups (``group``):

- ``"S<n>"`` (``2 <= n <= 5``): the symmetric group of permutations of ``{0 … n-1}``; element id
  ``i`` is the ``i``-th permutation of ``itertools.permutations(range(n))`` (lexicographic, id 0
  the identity), a permutation ``a`` a tuple with ``a[j]`` the image of ``j``; the product
  ``a · b`` is the composition ``j ↦ a[b[j]]`` (``b`` first). ``S3`` (order 6) is the smallest
  non-abelian group.
- ``"Z<m>"`` (``m >= 2``): addition mod ``m``; id ``i`` is the residue ``i``. ``Z2`` is parity
  (the target is the prefix parity of the bits, as in ``FormalLanguage("parity")``'s EOS column).

Batch layout: ``x: [B, T]`` int64 element ids (``pad_id = order`` after a sequence's end);
``y: [B, T]`` int64 ids of the running product (0 after the end); ``mask: [B, T]`` True on the
sequence's positions. ``T`` is the longest sequence of the batch; lengths are uniform in
``[min_length, max_length]``, the elements uniform and independent.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from functools import lru_cache

import torch
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args


@lru_cache(maxsize=16)
def multiplication_table(group: str) -> Tensor:
    """``M[a, b]`` = the id of ``a · b`` (``[order, order]`` int64); see the module docstring."""
    m = re.fullmatch(r"([SZ])(\d+)", group)
    if m is None:
        raise ValueError(f"group must be 'S<n>' (2 <= n <= 5) or 'Z<m>' (m >= 2), got {group!r}")
    kind, n = m.group(1), int(m.group(2))
    if kind == "Z":
        if n < 2:
            raise ValueError(f"Z<m> needs m >= 2, got {group!r}")
        r = torch.arange(n)
        return (r[:, None] + r[None, :]) % n
    if not 2 <= n <= 5:
        raise ValueError(f"S<n> needs 2 <= n <= 5, got {group!r}")
    perms = list(itertools.permutations(range(n)))
    index = {p: i for i, p in enumerate(perms)}
    table = [[index[tuple(a[b[j]] for j in range(n))] for b in perms] for a in perms]
    return torch.tensor(table, dtype=torch.int64)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class StateTracking:
    """The running product of random group elements (see the module docstring).

    Fields: ``group`` (``"S3"``, ``"Z5"``, ``"Z2"`` …); ``min_length``, ``max_length``: the
    sequence lengths (uniform); ``test_split()`` gives the same task on longer sequences.
    """

    group: str = "S3"
    min_length: int = 1
    max_length: int = 32

    def __post_init__(self) -> None:
        multiplication_table(self.group)  # checks the name
        _check_int("min_length", self.min_length, 1)
        _check_int("max_length", self.max_length, self.min_length)

    @property
    def order(self) -> int:
        return multiplication_table(self.group).shape[0]

    @property
    def pad_id(self) -> int:
        return self.order

    @property
    def vocab_size(self) -> int:
        return self.order + 1

    @property
    def d_input(self) -> int:
        return 0

    @property
    def n_out(self) -> int:
        return self.order

    def test_split(self, min_length: int | None = None, max_length: int | None = None):
        """The same group on longer sequences: ``[max_length + 1, 2 · max_length]`` unless
        given."""
        lo = self.max_length + 1 if min_length is None else min_length
        hi = 2 * self.max_length if max_length is None else max_length
        return replace(self, min_length=lo, max_length=hi)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_sample_args(batch_size, generator)
        table = multiplication_table(self.group)
        span = self.max_length - self.min_length + 1
        n = self.min_length + torch.randint(0, span, (batch_size,), generator=generator)
        T = int(n.max())
        mask = torch.arange(T)[None, :] < n[:, None]  # [B, T]
        g = torch.randint(0, self.order, (batch_size, T), generator=generator)
        y = torch.empty(batch_size, T, dtype=torch.int64)
        p = g[:, 0]
        y[:, 0] = p
        for t in range(1, T):
            p = table[g[:, t], p]  # p_t = g_t · p_{t-1}
            y[:, t] = p
        return Batch(g.masked_fill(~mask, self.pad_id), y.masked_fill(~mask, 0), mask)
