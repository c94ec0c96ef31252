"""Windows of a token sequence for language modelling: random ones to train, ordered ones to score.

``random_windows``: ``B`` windows of ``L + 1`` consecutive ids at uniform random offsets,
``x = w[:, :-1]``, ``y = w[:, 1:]``, mask all True. ``ordered_windows``: every next-token
prediction once, in order, in ``R <= B`` contiguous streams (batch ``i`` holds window ``i`` of
every stream), so a model may carry its state from batch to batch; positions past a stream's end
are padding (``mask`` False, ``x = y = 0``). ``TextStreams``: ``B`` streams through the
sequence for truncated backpropagation through time (row ``b`` of batch ``n + 1`` continues row
``b`` of batch ``n``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from fastweights.tasks.base import Batch, PackedBatch, check_sample_args


def random_windows(
    data: Tensor, L: int, batch_size: int, generator: torch.Generator, name: str,
    unit: str = "tokens", starts: Tensor | None = None,
) -> Batch | PackedBatch:  # fmt: skip
    """``B`` random windows of ``data [n]`` (``name`` and ``unit`` say what it is in errors).

    With ``starts [n]`` (bool, a document's first token) they are a ``PackedBatch``: its
    ``starts`` those of ``x``, ``mask`` False where ``y`` begins a document (no target across
    the boundary, and ``y`` 0 there)."""
    check_sample_args(batch_size, generator)
    n = data.shape[0]
    if n < L + 1:
        raise ValueError(f"{name} has {n} {unit}; a window of seq_len={L} needs at least {L + 1}")
    start = torch.randint(0, n - L, (batch_size,), generator=generator)  # [B]
    index = start[:, None] + torch.arange(L + 1)  # [B, L + 1]
    w = data[index].long()
    if starts is None:
        return Batch(w[:, :-1], w[:, 1:], torch.ones(batch_size, L, dtype=torch.bool))
    mask = ~starts[index[:, 1:]]
    return PackedBatch(w[:, :-1], torch.where(mask, w[:, 1:], 0), mask, starts[index[:, :-1]])


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


class TextStreams:
    """``batch_size`` streams through ``data [n]``: each ``sample`` is the next window of each.

    On its first ``sample`` every row starts at a uniform random offset of the split (drawn from
    the generator), then advances by ``seq_len`` each batch, so row ``b`` of batch ``n + 1``
    continues row ``b`` of batch ``n`` without a gap or an overlap. The split is read as a ring:
    a stream that reaches its end goes on from its start (the one prediction across the join,
    last symbol -> first, is kept; a trainer that wants fresh starts resets states itself). Pure
    given the generator: the only state is ``positions`` (``state_dict``, for checkpoints).
    ``name`` and ``unit`` say what the data is in errors.
    """

    def __init__(
        self, data: Tensor, seq_len: int, batch_size: int, name: str, unit: str = "tokens"
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.data, self.seq_len, self.batch_size = data, seq_len, batch_size
        self.name, self.unit = name, unit
        self.positions: Tensor | None = None  # [B] int64, each stream's next window start

    def sample(self, generator: torch.Generator) -> Batch:
        check_sample_args(self.batch_size, generator)
        data, L = self.data, self.seq_len
        n = data.shape[0]
        if n < L + 1:
            raise ValueError(
                f"{self.name} has {n} {self.unit}; streams of windows of seq_len={L} need at "
                f"least {L + 1} (a shorter text cannot fill one)"
            )
        if self.positions is None:
            self.positions = torch.randint(0, n, (self.batch_size,), generator=generator)
        index = (self.positions[:, None] + torch.arange(L + 1)) % n  # [B, L + 1], on the ring
        w = data[index].long()
        self.positions = (self.positions + L) % n
        return Batch(w[:, :-1], w[:, 1:], torch.ones(self.batch_size, L, dtype=torch.bool))

    def state_dict(self) -> dict[str, Any]:
        """The streams' positions (tensors and plain data only: a checkpoint holds them)."""
        positions = None if self.positions is None else self.positions.clone()
        return {"batch_size": self.batch_size, "positions": positions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s output (the same number of streams, ``ValueError``)."""
        if not isinstance(state, dict) or set(state) != {"batch_size", "positions"}:
            raise ValueError(f"not a TextStreams state: {state!r:.80}")
        if state["batch_size"] != self.batch_size:
            raise ValueError(
                f"the saved streams are {state['batch_size']}, this sampler has {self.batch_size}"
            )
        positions = state["positions"]
        if positions is not None and not (
            isinstance(positions, Tensor) and positions.shape == (self.batch_size,)
            and positions.dtype == torch.int64
        ):  # fmt: skip
            raise ValueError(f"stream positions must be [{self.batch_size}] int64, got {positions}")
        self.positions = None if positions is None else positions.clone()
