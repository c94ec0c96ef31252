"""Loss and accuracy of a model's outputs on a task's batch, on the masked positions only.

By the targets' kind (``fastweights.tasks.base``):

- class ids (``y`` int64): cross-entropy; accuracy = argmax equals the target;
- ``"multilabel"`` (a 0/1 set per position, e.g. the allowed next characters): binary
  cross-entropy with logits; a position counts as right when every label is (logit > 0 ⇔ 1);
- ``"vectors"`` (e.g. associative retrieval's values): the squared error ``½ Σ (out − y)²`` per
  position, as in Schlag et al. 2021; accuracy = argmax equals the target's argmax.

``run_batch`` is how training and evaluation feed a batch to a model: ``model(x, states)``, or,
for packed documents (a ``PackedBatch``), every piece of every row alone through
``cu_seqlens``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks import Batch, PackedBatch, Task

KINDS = ("classes", "multilabel", "vectors")


class Score(NamedTuple):
    loss: Tensor  # scalar, differentiable
    correct: Tensor  # [N] bool, one per masked position
    positions: Tensor  # [N] position index t of each masked position (for per-length accuracy)


def target_kind(task: Task, batch: Batch) -> str:
    if batch.y.dtype == torch.int64:
        return "classes"
    kind = getattr(task, "target_kind", None)
    if kind not in KINDS:
        raise ValueError(
            f"{type(task).__name__} has float targets but no target_kind in {KINDS[1:]}"
        )
    return kind


def score(task: Task, batch: Batch, out: Tensor) -> Score:
    """``out [B, T, n_out]`` against ``batch.y`` at ``batch.mask``."""
    out, y = out[batch.mask], batch.y[batch.mask]  # [N, n_out], [N] or [N, n_out]
    positions = batch.mask.nonzero()[:, 1]
    kind = target_kind(task, batch)
    if kind == "classes":
        return Score(F.cross_entropy(out, y), out.argmax(-1) == y, positions)
    if kind == "multilabel":
        correct = ((out > 0) == (y > 0.5)).all(-1)
        return Score(F.binary_cross_entropy_with_logits(out, y), correct, positions)
    loss = 0.5 * (out - y).square().sum(-1).mean()
    return Score(loss, out.argmax(-1) == y.argmax(-1), positions)


def run_batch(
    model: Callable[..., tuple[Tensor, Any]], batch: Batch | PackedBatch, states: Any = None
) -> tuple[Tensor, Any]:
    """``model(batch.x, states)``; for packed rows (a ``PackedBatch``), the rows laid end to end
    as one ``[1, B·T]`` sequence whose documents begin at every row's start and every ``starts``
    mark, so no document reads another. Packed pieces start afresh: they take no ``states`` and
    return None."""
    if not isinstance(batch, PackedBatch):
        return model(batch.x) if states is None else model(batch.x, states)
    if states is not None:
        raise ValueError("packed documents start afresh; they cannot carry states")
    B, T = batch.x.shape[:2]
    starts = batch.starts.clone()
    starts[:, 0] = True
    bounds = starts.flatten().nonzero()[:, 0]
    cu_seqlens = torch.cat([bounds, bounds.new_tensor([B * T])])
    logits, _ = model(batch.x.reshape(1, B * T, *batch.x.shape[2:]), cu_seqlens=cu_seqlens)
    return logits.view(B, T, -1), None
