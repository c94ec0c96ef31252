"""Evaluation metrics over fixed batches: loss, accuracy, per-length accuracy, bits per char.

- ``eval_loss``, ``eval_accuracy``: the loss per scored position (each batch's loss weighted by
  its scored positions, not a mean of batch means), and the fraction of scored positions
  predicted right (``fastweights.train.objective``);
- ``eval_sequence_accuracy``: the fraction of sequences with every masked position right (how the
  formal-language papers count a string as recognised);
- ``eval_accuracy_by_length``: ``{length: accuracy}`` over the masked positions of the sequences
  of each length, where a sequence's length is the position of its last masked token + 1 (the
  input the model had to read); reported when the lengths vary, for length generalisation;
- ``eval_bits_per_char``: ``eval_loss / ln 2`` for character-level language models (tasks that
  declare ``char_level = True``): the cross-entropy in bits per predicted character;
- ``eval_bits_per_token``, ``eval_perplexity``: ``eval_loss / ln 2`` and ``exp(eval_loss)`` for
  subword and word-level language models (``token_level = True``).

``text_bits_per_char`` is the exact number for a text: every prediction of the split once, in
order (``task.windows``), each stream's state carried from window to window, as papers report
a test set's bits per character (or each window afresh, to tell the two apart); ``whole_split``
reports both (``bpc_carried``, ``bpc_afresh``), as ``fwp eval --json`` and a run's last record do.
For a token-level text it reports bits per token and perplexity both ways (``bpt_carried``,
``ppl_carried``, ``bpt_afresh``, ``ppl_afresh``, over ``bpt_tokens``) and, from the split's
characters, bits per character (``bpc_carried``, ``bpc_afresh``: total bits / characters, which
compare with a character-level model's).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from fastweights.tasks import Task, map_batch
from fastweights.train.objective import run_batch, score


def sequence_lengths(mask: Tensor) -> Tensor:
    """``[B, T]`` mask -> ``[B]``: position of each row's last masked token + 1 (0 if none)."""
    positions = torch.arange(1, mask.shape[1] + 1, device=mask.device)
    return (mask * positions).amax(dim=1)


def evaluate(
    model: Callable[[Tensor], tuple[Tensor, Any]],
    task: Task,
    *,
    batch_size: int,
    batches: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Metrics of ``model`` on ``batches`` batches drawn from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    loss_sum = 0.0
    correct = total = sequences_right = sequences = 0
    by_length: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # length -> [right, all]
    with torch.no_grad():
        for _ in range(batches):
            batch = map_batch(task.sample(batch_size, generator), lambda t: t.to(device))
            result = score(task, batch, run_batch(model, batch)[0].float())
            loss_sum += result.loss.item() * result.correct.numel()
            correct += int(result.correct.sum())
            total += result.correct.numel()
            # the masked positions come row by row (nonzero order), so split them per row
            per_row = batch.mask.sum(dim=1).tolist()
            rows = result.correct.split(per_row)
            lengths = sequence_lengths(batch.mask).tolist()
            for row, length in zip(rows, lengths, strict=True):
                if row.numel():
                    sequences += 1
                    sequences_right += bool(row.all())
                    by_length[length][0] += int(row.sum())
                    by_length[length][1] += row.numel()
    if total == 0:
        raise ValueError(f"{type(task).__name__} produced no scored positions to evaluate")
    metrics: dict[str, Any] = {
        "eval_loss": loss_sum / total,
        "eval_accuracy": correct / total,
        "eval_sequence_accuracy": sequences_right / max(1, sequences),
    }
    if len(by_length) > 1:
        metrics["eval_accuracy_by_length"] = {
            str(n): right / count for n, (right, count) in sorted(by_length.items())
        }
    if getattr(task, "char_level", False):
        metrics["eval_bits_per_char"] = metrics["eval_loss"] / math.log(2)
    if getattr(task, "token_level", False):
        metrics["eval_bits_per_token"] = metrics["eval_loss"] / math.log(2)
        metrics["eval_perplexity"] = math.exp(min(metrics["eval_loss"], 700.0))
    return metrics


def text_bits_per_char(
    model: Callable[[Tensor, Any], tuple[Tensor, Any]],
    task: Any,
    *,
    batch_size: int,
    carry_state: bool = True,
    device: torch.device | str = "cpu",
) -> tuple[float, int]:
    """``(bits per character, characters predicted)`` over the whole split of ``task``: its
    ``windows(batch_size)`` in order, ``model(x, states) -> (logits, states)`` carrying each of
    the ``batch_size`` streams' state from one window to the next (``carry_state=False``: every
    window starts afresh, as training windows do)."""
    nats, count, states = 0.0, 0, None
    with torch.no_grad():
        for window in task.windows(batch_size):
            batch = map_batch(window, lambda t: t.to(device))
            logits, states = model(batch.x, states if carry_state else None)
            result = score(task, batch, logits.float())
            nats += result.loss.item() * result.correct.numel()
            count += result.correct.numel()
    if count == 0:
        raise ValueError(f"{type(task).__name__} has no characters to predict")
    return nats / count / math.log(2), count


def whole_split(
    model: Callable[[Tensor, Any], tuple[Tensor, Any]],
    task: Any,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """``text_bits_per_char`` of the whole split both ways: ``bpc_carried`` (each stream's state
    carried from window to window), ``bpc_afresh`` (every window from a fresh state), and
    ``bpc_characters`` (the predictions scored, ``batch_size`` streams); for a token-level task
    bits per token and perplexity too (see the module docstring)."""
    carried, count = text_bits_per_char(model, task, batch_size=batch_size, device=device)
    afresh, _ = text_bits_per_char(
        model, task, batch_size=batch_size, carry_state=False, device=device
    )
    if not getattr(task, "token_level", False):
        return {"bpc_carried": carried, "bpc_afresh": afresh, "bpc_characters": count}
    per_char = count / task.characters  # tokens per character
    return {
        "bpt_carried": carried, "bpt_afresh": afresh, "bpt_tokens": count,
        "ppl_carried": 2.0 ** carried, "ppl_afresh": 2.0 ** afresh,
        "bpc_carried": carried * per_char, "bpc_afresh": afresh * per_char,
        "bpc_characters": task.characters,
    }  # fmt: skip
