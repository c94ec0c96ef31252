"""Evaluation metrics against hand-counted cases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from fastweights.models import FWPModel, ModelConfig
from fastweights.tasks import Batch, CharLM
from fastweights.train.metrics import evaluate, sequence_lengths, text_bits_per_char


@dataclass(frozen=True)
class _Fixed:
    """Always the same batch: row 0 has 2 scored positions, row 1 has 3 (lengths 2 and 4)."""

    vocab_size: int = 3
    d_input: int = 0
    n_out: int = 3

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        x = torch.zeros(2, 4, dtype=torch.long)
        y = torch.tensor([[0, 1, 0, 0], [2, 2, 1, 1]])
        mask = torch.tensor([[True, True, False, False], [True, False, True, True]])
        return Batch(x, y, mask)


@dataclass(frozen=True)
class _FixedChars(_Fixed):
    char_level: ClassVar[bool] = True


def _predicts(classes: list[list[int]]):
    logits = torch.nn.functional.one_hot(torch.tensor(classes), 3).float() * 10

    def model(x: torch.Tensor):
        return logits, None

    return model


def test_sequence_lengths_are_last_scored_position_plus_one() -> None:
    mask = torch.tensor([[True, True, False], [False, False, False], [False, True, False]])
    assert sequence_lengths(mask).tolist() == [2, 0, 2]


def test_accuracies_by_position_sequence_and_length() -> None:
    # row 0: both right; row 1: 2 of its 3 scored positions right
    model = _predicts([[0, 1, 2, 2], [2, 0, 1, 0]])
    metrics = evaluate(model, _Fixed(), batch_size=2, batches=2, seed=0)
    assert metrics["eval_accuracy"] == pytest.approx(4 / 5)
    assert metrics["eval_sequence_accuracy"] == pytest.approx(1 / 2)
    assert metrics["eval_accuracy_by_length"] == {"2": 1.0, "4": pytest.approx(2 / 3)}
    assert "eval_bits_per_char" not in metrics


def test_bits_per_char_is_the_loss_in_bits() -> None:
    metrics = evaluate(_predicts([[0, 0, 0, 0]] * 2), _FixedChars(), batch_size=2, batches=1,
                       seed=0)  # fmt: skip
    assert metrics["eval_bits_per_char"] == pytest.approx(metrics["eval_loss"] / math.log(2))


def test_text_bits_per_char_is_every_stream_read_in_one_call(tmp_path) -> None:
    # carrying each stream's state across windows equals reading the stream in one call
    file = tmp_path / "enwik8"
    file.write_bytes(bytes((7 * i + i // 13) % 251 for i in range(3000)))
    task = CharLM(corpus="enwik8", path=str(file), exact_size=False, seq_len=8, split="test")
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=task.vocab_size, d_model=16, n_layers=2, n_heads=2)
    model = FWPModel(config).double().eval()
    bits, count = text_bits_per_char(model, task, batch_size=3)
    assert count == task.n_symbols - 1
    windows = list(task.windows(3))
    nats = 0.0
    for row in range(windows[0].x.shape[0]):
        x = torch.cat([w.x[row][w.mask[row]] for w in windows])
        y = torch.cat([w.y[row][w.mask[row]] for w in windows])
        with torch.no_grad():
            logits = model(x[None])[0][0]
        nats += F.cross_entropy(logits, y, reduction="sum").item()
    assert bits == pytest.approx(nats / count / math.log(2), rel=1e-6)  # scored in float32
    with torch.no_grad():  # each window afresh: another number
        fresh = sum(
            F.cross_entropy(model(w.x)[0][w.mask], w.y[w.mask], reduction="sum").item()
            for w in windows
        )
    afresh, _ = text_bits_per_char(model, task, batch_size=3, carry_state=False)
    assert afresh == pytest.approx(fresh / count / math.log(2), rel=1e-6)
    assert abs(afresh - bits) > 1e-6
