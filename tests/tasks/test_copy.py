"""Copy / Reverse: an oracle that reads the string back from ``x`` scores 100%."""

from __future__ import annotations

import pytest
import torch

from fastweights.tasks.base import Task
from fastweights.tasks.copy import Copy, Reverse


def oracle(task: Copy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions and scored positions from the inputs alone, one row at a time."""
    pred = torch.zeros_like(x)
    scored = torch.zeros(x.shape, dtype=torch.bool)
    for b, row in enumerate(x.tolist()):
        n = row.index(task.sep_id)
        s = row[:n]
        out = s if task.mode == "copy" else s[::-1]
        pred[b, n : 2 * n] = torch.tensor(out)
        scored[b, n : 2 * n] = True
    return pred, scored


@pytest.mark.parametrize("task", [Copy(), Reverse(), Copy(3, 5, 9, "reverse"), Copy().test_split()])
def test_oracle_scores_100_percent(task) -> None:
    x, y, mask = task.sample(16, torch.Generator().manual_seed(0))
    pred, scored = oracle(task, x)
    assert torch.equal(mask, scored)
    assert torch.equal(pred[mask], y[mask])
    n = mask.sum(1)
    assert bool(((n >= task.min_length) & (n <= task.max_length)).all())
    assert x.shape[1] == 2 * int(n.max())
    for b in range(16):  # teacher forcing: the input after each output position is that output
        k = int(n[b])
        assert torch.equal(x[b, k + 1 : 2 * k], y[b, k : 2 * k - 1])
        assert bool((x[b, 2 * k :] == task.pad_id).all())
        assert bool((x[b, :k] < task.n_symbols).all())


def test_reverse_differs_from_copy_on_the_same_draw() -> None:
    a = Copy(mode="copy", min_length=5).sample(8, torch.Generator().manual_seed(1))
    b = Reverse(min_length=5).sample(8, torch.Generator().manual_seed(1))
    assert torch.equal(a.mask, b.mask) and not torch.equal(a.y, b.y)
    n = int(a.mask[0].sum())
    assert torch.equal(a.y[0, n : 2 * n].flip(0), b.y[0, n : 2 * n])


def test_same_seed_same_batch_and_sizes() -> None:
    task = Copy(n_symbols=5)
    a = task.sample(4, torch.Generator().manual_seed(0))
    b = task.sample(4, torch.Generator().manual_seed(0))
    c = task.sample(4, torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert a.x.shape != c.x.shape or not torch.equal(a.x, c.x)
    assert isinstance(task, Task)
    assert (task.vocab_size, task.d_input, task.n_out, task.sep_id, task.pad_id) == (7, 0, 5, 5, 6)
    assert a.x.dtype == a.y.dtype == torch.int64 and a.mask.dtype == torch.bool
    split = task.test_split()
    assert (split.min_length, split.max_length, split.n_symbols) == (21, 40, 5)


def test_bad_fields_raise() -> None:
    with pytest.raises(ValueError, match=r"copy.*reverse"):
        Copy(mode="sort")
    with pytest.raises(ValueError, match="n_symbols"):
        Copy(n_symbols=0)
    with pytest.raises(ValueError, match="min_length"):
        Copy(min_length=0)
    with pytest.raises(ValueError, match="max_length"):
        Copy(min_length=5, max_length=4)
    with pytest.raises(ValueError, match="batch_size"):
        Reverse().sample(-1, torch.Generator())
