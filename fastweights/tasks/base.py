"""The task contract: a frozen dataclass whose ``sample`` draws a batch from a ``torch.Generator``.

Every task is pure given the generator (no global random state, no downloads)::

    task.sample(batch_size, generator) -> Batch(x, y, mask)

- ``x``: inputs, token ids ``[B, T]`` (int64) or vectors ``[B, T, d_input]`` (float32);
- ``y``: targets, class ids ``[B, T]`` (int64) or vectors ``[B, T, n_out]`` (float32), defined
  everywhere (any value where ``mask`` is False);
- ``mask``: ``[B, T]`` bool, the positions that are scored (the loss and the accuracy read only
  these).

Packed documents come as a ``PackedBatch``: a ``Batch`` plus ``starts`` ``[B, T]`` bool, True
where a document begins inside a row (every row also begins one). A model runs each such piece
alone (``fastweights.train.objective.run_batch``: ``FWPModel.forward(cu_seqlens=)``), so nothing
reads across a document's boundary.

A task also states what a model needs to read and answer it: ``vocab_size`` (input tokens, 0 for
vector inputs), ``d_input`` (0 for token inputs) and ``n_out`` (output classes or output size).
Tasks with float targets say how to score them in a class attribute ``target_kind``:
``"multilabel"`` (a 0/1 set per position) or ``"vectors"`` (values to regress); class-id targets
need none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor


class Batch(NamedTuple):
    """``x`` inputs, ``y`` targets, ``mask`` the scored positions (see the module docstring)."""

    x: Tensor
    y: Tensor
    mask: Tensor


class PackedBatch(NamedTuple):
    """A ``Batch`` of packed rows, with ``starts [B, T]`` the documents' starts in them."""

    x: Tensor
    y: Tensor
    mask: Tensor
    starts: Tensor


def map_batch(batch: Batch | PackedBatch, fn: Callable[[Tensor], Tensor]) -> Any:
    """The batch, of the same kind, with ``fn`` applied to each of its tensors."""
    return type(batch)(*(fn(t) for t in batch))


def chunk_batch(batch: Batch | PackedBatch, parts: int) -> list[Any]:
    """The batch cut into ``parts`` batches of consecutive rows (micro-batches)."""
    return [type(batch)(*row) for row in zip(*(t.chunk(parts) for t in batch), strict=True)]


@runtime_checkable
class Task(Protocol):
    vocab_size: int
    d_input: int
    n_out: int

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch: ...


def check_sample_args(batch_size: object, generator: object) -> None:
    """The common checks of ``sample``'s arguments (``ValueError``/``TypeError``)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
