"""The contract every registered task keeps, parametrised over ``TASKS`` (default fields)."""

from __future__ import annotations

from importlib.util import find_spec

import pytest
import torch

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks import TASKS, Batch, Task

NEEDS = {"token_lm": "tokenizers"}  # tasks that need an optional package (the lm extra)
NAMES = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            name in NEEDS and find_spec(NEEDS[name]) is None,
            reason=f"{name} needs {NEEDS.get(name)} (an optional extra), not installed",
        ),
    )
    for name in TASKS
]


def _batch(name: str, seed: int = 0, batch_size: int = 4) -> tuple[Task, Batch]:
    task = TASKS[name]()
    return task, task.sample(batch_size, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_batch_and_other_seed_other_batch(name) -> None:
    _, a = _batch(name)
    _, b = _batch(name)
    _, c = _batch(name, seed=1)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert any(x.shape != y.shape or not torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_batch_layout_matches_what_the_task_declares(name) -> None:
    task, (x, y, mask) = _batch(name)
    assert isinstance(task, Task)
    B, T = mask.shape
    assert B == 4 and mask.dtype == torch.bool and bool(mask.any(dim=1).all())
    if task.vocab_size:
        assert x.shape == (B, T) and x.dtype == torch.int64
        assert int(x.min()) >= 0 and int(x.max()) < task.vocab_size
    else:
        assert x.shape == (B, T, task.d_input) and x.is_floating_point()
    if y.dtype == torch.int64:
        assert y.shape == (B, T)
        assert int(y[mask].min()) >= 0 and int(y[mask].max()) < task.n_out
    else:
        assert y.shape == (B, T, task.n_out) and y.is_floating_point()


@pytest.mark.parametrize("name", NAMES)
def test_a_model_reads_the_batch(name) -> None:
    task, (x, _, mask) = _batch(name, batch_size=2)
    inputs = {"vocab_size": task.vocab_size} if task.vocab_size else {"d_input": task.d_input}
    model = FWPModel(ModelConfig(mixer="delta", d_model=16, n_heads=2, n_out=task.n_out, **inputs))
    logits, _ = model(x)
    assert logits.shape == (*mask.shape, task.n_out)


@pytest.mark.parametrize("name", NAMES)
def test_bad_sample_arguments(name) -> None:
    task = TASKS[name]()
    with pytest.raises(ValueError, match="batch_size"):
        task.sample(0, torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        task.sample(2, 0)
