"""Evaluation of a trained model on one split: fixed batches from that split's own data seed.

Every metric of ``spec.METRICS`` is computed from ``fastweights.train.objective.score`` on the
scored positions (``mask``), summed over all batches before dividing (no mean of batch means):

- ``loss``: the task's loss (cross-entropy, binary cross-entropy or the retrieval loss
  ``½ Σ_d (ŷ_d − y_d)²`` of Schlag et al. 2021), weighted by scored positions;
- ``accuracy``: the share of scored positions that are right;
- ``sequence_accuracy``: the share of sequences whose scored positions are all right (a formal-
  language string counts as recognised only then, as in Bhattamishra et al. 2020);
- ``bits_per_char``: for class targets, the mean cross-entropy in bits (loss / ln 2); None else.

The split's tasks derive from the training task (``split_task``): by field overrides (e.g.
``{"split": "test"}``) or by the task's ``test_split()`` (longer strings, held-out alphabets).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fastweights.bench.efficacy.spec import TEST_SPLIT
from fastweights.tasks import Batch, Task
from fastweights.train.objective import score, target_kind


def split_task(task: Task, how: Mapping[str, Any] | str) -> Task:
    """The task of a split: ``task`` with field overrides, or ``task.test_split()``."""
    if how == TEST_SPLIT:
        if not hasattr(task, "test_split"):
            raise ValueError(f"{type(task).__name__} has no test_split()")
        return task.test_split()
    if not isinstance(how, Mapping):
        raise TypeError(f"a split is field overrides or {TEST_SPLIT!r}, got {how!r}")
    return dataclasses.replace(task, **how) if how else task  # type: ignore[type-var]


@torch.no_grad()
def evaluate_split(
    model: nn.Module, task: Task, *, seed: int, batches: int, batch_size: int
) -> dict[str, float | None]:
    """Every metric of ``spec.METRICS`` on ``batches`` batches drawn from ``Generator(seed)``."""
    if batches < 1 or batch_size < 1:
        raise ValueError(f"batches and batch_size must be >= 1, got {batches}, {batch_size}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    loss_sum, positions, right = 0.0, 0, 0
    sequences, sequences_right = 0, 0
    kind = None
    for _ in range(batches):
        batch = Batch(*(t.to(device) for t in task.sample(batch_size, generator)))
        kind = target_kind(task, batch)
        result = score(task, batch, model(batch.x)[0])
        n = result.correct.numel()
        loss_sum += result.loss.item() * n
        positions += n
        right += int(result.correct.sum())
        rows = batch.mask.nonzero()[:, 0]  # [N] the sequence of each scored position
        wrong = torch.zeros(batch.mask.shape[0], device=device).index_add_(
            0, rows, (~result.correct).float()
        )
        scored = batch.mask.any(dim=1)  # sequences with at least one scored position
        sequences += int(scored.sum())
        sequences_right += int(((wrong == 0) & scored).sum())
    model.train(was_training)
    if positions == 0:
        raise ValueError(f"{type(task).__name__} produced no scored positions to evaluate")
    loss = loss_sum / positions
    return {
        "loss": loss,
        "accuracy": right / positions,
        "sequence_accuracy": sequences_right / max(1, sequences),
        "bits_per_char": loss / math.log(2) if kind == "classes" else None,
    }
