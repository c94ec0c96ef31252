"""Evaluation of a trained model on one split: fixed batches from that split's own data seed.

Every metric of ``spec.METRICS`` comes from ``fastweights.train.metrics.evaluate`` (the metrics
that ``fwp train`` and ``fwp eval`` report), on the scored positions (``mask``), summed over all
batches before dividing (no mean of batch means):

- ``loss``: the task's loss (cross-entropy, binary cross-entropy or the retrieval loss
  ``½ Σ_d (ŷ_d − y_d)²`` of Schlag et al. 2021), weighted by scored positions;
- ``accuracy``: the share of scored positions that are right;
- ``sequence_accuracy``: the share of sequences whose scored positions are all right (a formal-
  language string counts as recognised only then, as in Bhattamishra et al. 2020);
- ``bits_per_char``: for character-level tasks, the mean cross-entropy in bits (loss / ln 2);
  None else;
- ``early_loss`` / ``late_loss``: for episodic tasks (a ``scored`` field, as
  ``fastweights.tasks.meta_learning``), the loss on the first / last third of every episode, on
  the same batches (the data does not depend on ``scored``); None else.

The split's tasks derive from the training task (``split_task``): by field overrides (e.g.
``{"split": "test"}``) or by the task's ``test_split()`` (longer strings, held-out alphabets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fastweights.bench.efficacy.spec import TEST_SPLIT
from fastweights.tasks import Task
from fastweights.train import metrics


def split_task(task: Task, how: Mapping[str, Any] | str) -> Task:
    """The task of a split: ``task`` with field overrides, or ``task.test_split()``."""
    if how == TEST_SPLIT:
        if not hasattr(task, "test_split"):
            raise ValueError(f"{type(task).__name__} has no test_split()")
        return task.test_split()
    if not isinstance(how, Mapping):
        raise TypeError(f"a split is field overrides or {TEST_SPLIT!r}, got {how!r}")
    return dataclasses.replace(task, **how) if how else task  # type: ignore[type-var]


def evaluate_split(
    model: nn.Module, task: Task, *, seed: int, batches: int, batch_size: int
) -> dict[str, float | None]:
    """Every metric of ``spec.METRICS`` on ``batches`` batches drawn from ``Generator(seed)``."""
    if batches < 1 or batch_size < 1:
        raise ValueError(f"batches and batch_size must be >= 1, got {batches}, {batch_size}")
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    found = metrics.evaluate(
        model, task, batch_size=batch_size, batches=batches, seed=seed, device=device
    )
    phases: dict[str, float | None] = {"early_loss": None, "late_loss": None}
    fields = dataclasses.fields(task) if dataclasses.is_dataclass(task) else ()
    if "scored" in {f.name for f in fields}:
        for phase in ("early", "late"):
            part = metrics.evaluate(
                model, dataclasses.replace(task, scored=phase), batch_size=batch_size,  # type: ignore[type-var]
                batches=batches, seed=seed, device=device,
            )  # fmt: skip
            phases[f"{phase}_loss"] = part["eval_loss"]
    model.train(was_training)
    return {
        "loss": found["eval_loss"],
        "accuracy": found["eval_accuracy"],
        "sequence_accuracy": found["eval_sequence_accuracy"],
        "bits_per_char": found.get("eval_bits_per_char"),
        **phases,
    }
