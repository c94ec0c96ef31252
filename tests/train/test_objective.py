"""Loss and accuracy on the masked positions, for each kind of target."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from fastweights.tasks import Batch
from fastweights.train import score


@dataclass(frozen=True)
class _Task:
    vocab_size: int = 0
    d_input: int = 1
    n_out: int = 3


@dataclass(frozen=True)
class _Multilabel(_Task):
    target_kind = "multilabel"


@dataclass(frozen=True)
class _Vectors(_Task):
    target_kind = "vectors"


MASK = torch.tensor([[False, True, True]])


def test_classes_use_cross_entropy_on_masked_positions_only() -> None:
    out = torch.tensor([[[9.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0]]])
    y = torch.tensor([[2, 1, 2]])  # the first position would be wrong, but it is not scored
    result = score(_Task(), Batch(torch.zeros(1, 3, 1), y, MASK), out)
    assert result.correct.tolist() == [True, False]
    assert result.positions.tolist() == [1, 2]
    assert result.loss.item() == pytest.approx(F.cross_entropy(out[0, 1:], y[0, 1:]).item())


def test_multilabel_counts_a_position_right_only_if_every_label_is() -> None:
    out = torch.tensor([[[0.0, 0, 0], [3.0, -3.0, 3.0], [3.0, 3.0, -3.0]]])
    y = torch.tensor([[[0.0, 0, 0], [1.0, 0, 1], [1.0, 0, 0]]])
    result = score(_Multilabel(), Batch(torch.zeros(1, 3, 1), y, MASK), out)
    assert result.correct.tolist() == [True, False]
    expected = F.binary_cross_entropy_with_logits(out[0, 1:], y[0, 1:])
    assert result.loss.item() == pytest.approx(expected.item())


def test_vectors_use_half_the_squared_error_per_position() -> None:
    out = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0.0, 2.0, 0]]])
    y = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0.0, 0, 1.0]]])
    result = score(_Vectors(), Batch(torch.zeros(1, 3, 1), y, MASK), out)
    assert result.loss.item() == pytest.approx(0.5 * (0 + 5) / 2)
    assert result.correct.tolist() == [True, False]


def test_float_targets_need_a_target_kind() -> None:
    with pytest.raises(ValueError, match="target_kind"):
        score(
            _Task(), Batch(torch.zeros(1, 3, 1), torch.zeros(1, 3, 3), MASK), torch.zeros(1, 3, 3)
        )
