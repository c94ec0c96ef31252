"""Loss and accuracy on the masked positions, for each kind of target."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks import Batch, PackedBatch
from fastweights.train import score
from fastweights.train.objective import run_batch


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


@pytest.mark.parametrize(
    "mixer", ["deltanet", "gated_deltanet", "transformer", "delta_rnn", "lstm"]
)
def test_run_batch_reads_every_packed_document_alone(mixer: str) -> None:
    """A ``PackedBatch``'s logits are those of each of its pieces run alone from a fresh state:
    no document reads another, nor the row before it."""
    torch.manual_seed(0)
    model = FWPModel(ModelConfig(mixer=mixer, vocab_size=20, d_model=16, n_layers=2, n_heads=2))
    x = torch.randint(0, 20, (2, 9))
    starts = torch.zeros(2, 9, dtype=torch.bool)
    starts[0, 4] = starts[1, 3] = starts[1, 7] = True  # row 0: 4 + 5 tokens, row 1: 3 + 4 + 2
    batch = PackedBatch(x, x, torch.ones_like(starts), starts)
    with torch.no_grad():
        logits, states = run_batch(model, batch)
        for row, pieces in ((0, [(0, 4), (4, 9)]), (1, [(0, 3), (3, 7), (7, 9)])):
            for a, b in pieces:
                alone = model(x[row : row + 1, a:b])[0][0]
                torch.testing.assert_close(logits[row, a:b], alone, atol=1e-5, rtol=1e-5)
    assert logits.shape == (2, 9, 20) and states is None
    with pytest.raises(ValueError, match="cannot carry states"):
        run_batch(model, batch, states=[None, None])
    plain = Batch(x, x, torch.ones_like(starts))
    torch.testing.assert_close(run_batch(model, plain)[0], model(x)[0])
