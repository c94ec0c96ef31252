"""The irregularly sampled spirals: irregular times, the oracle is exact without noise."""

from __future__ import annotations

import pytest
import torch

from fastweights.tasks import TASKS
from fastweights.tasks.irregular_series import IrregularSpirals


def test_times_are_irregular_increasing_and_binned() -> None:
    task = IrregularSpirals(length=8)
    x, y, mask = task.sample(64, torch.Generator().manual_seed(0))
    times = x[..., 0]
    assert x.shape == (64, 8, 3) and TASKS["irregular_spirals"] is IrregularSpirals
    assert bool((times[:, 1:] > times[:, :-1]).all())
    assert bool(((times * 8).floor() == torch.arange(8)).all())  # one observation per bin
    gaps = times[:, 1:] - times[:, :-1]
    assert float(gaps.std()) > 0.02  # not a regular grid
    assert bool(mask[:, -1].all()) and int(mask.sum()) == 64
    assert bool((y == y[:, :1]).all()) and 10 < int(y[:, 0].sum()) < 54  # both directions


def test_the_oracle_reads_the_direction_exactly_without_noise() -> None:
    task = IrregularSpirals(length=6, noise=0.0, omega=(0.5, 1.45))
    x, y, _ = task.sample(512, torch.Generator().manual_seed(1))
    assert torch.equal(IrregularSpirals.oracle(x), y[:, -1])
    noisy = IrregularSpirals(noise=0.5)
    x, y, _ = noisy.sample(512, torch.Generator().manual_seed(1))
    accuracy = float((IrregularSpirals.oracle(x) == y[:, -1]).float().mean())
    assert 0.5 < accuracy < 1.0  # heavy noise hides the winding sometimes


def test_bad_fields_are_errors() -> None:
    with pytest.raises(ValueError, match="length"):
        IrregularSpirals(length=1)
    with pytest.raises(ValueError, match="half a circle"):
        IrregularSpirals(length=4, omega=(0.5, 1.5))
    with pytest.raises(ValueError, match="omega"):
        IrregularSpirals(omega=(0.0, 1.0))
    with pytest.raises(ValueError, match="noise"):
        IrregularSpirals(noise=-1.0)
