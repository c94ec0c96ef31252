"""Windows of a token sequence for language modelling: random ones to train, ordered ones to score.

``random_windows``: ``B`` windows of ``L + 1`` consecutive ids at uniform random offsets,
``x = w[:, :-1]``, ``y = w[:, 1:]``, mask all True. ``ordered_windows``: every next-token
prediction once, in order, in ``R <= B`` contiguous streams (batch ``i`` holds window ``i`` of
every stream), so a model may carry its state from batch to batch; positions past a stream's end
are padding (``mask`` False, ``x = y = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from fastweights.tasks.base import Batch, check_sample_args


def random_windows(
    data: Tensor, L: int, batch_size: int, generator: torch.Generator, name: str,
    unit: str = "tokens",
) -> Batch:  # fmt: skip
    """``B`` random windows of ``data [n]`` (``name`` and ``unit`` say what it is in errors)."""
    check_sample_args(batch_size, generator)
    n = data.shape[0]
    if n < L + 1:
        raise ValueError(f"{name} has {n} {unit}; a window of seq_len={L} needs at least {L + 1}")
    start = torch.randint(0, n - L, (batch_size,), generator=generator)  # [B]
    w = data[start[:, None] + torch.arange(L + 1)].long()  # [B, L + 1]
    return Batch(w[:, :-1], w[:, 1:], torch.ones(batch_size, L, dtype=torch.bool))


def ordered_windows(
    data: Tensor, L: int, batch_size: int, name: str, unit: str = "tokens"
) -> Iterator[Batch]:
    """Every prediction of ``data [n]`` once, in order, in at most ``batch_size`` streams."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    n = data.shape[0]
    if n < 2:
        raise ValueError(f"{name} has {n} {unit} (< 2)")
    m = math.ceil((n - 1) / batch_size)  # predictions per stream
    rows = math.ceil((n - 1) / m)  # streams that hold any
    t = torch.arange(L)
    for i in range(math.ceil(m / L)):
        offset = i * L + t  # [L] position within a stream
        pos = torch.arange(rows)[:, None] * m + offset  # [R, L] position in the data
        mask = (offset < m) & (pos < n - 1)  # [R, L]
        pos = torch.where(mask, pos, 0)
        yield Batch(torch.where(mask, data[pos].long(), 0),
                    torch.where(mask, data[pos + 1].long(), 0), mask)  # fmt: skip
