"""A run's inputs and answers as the inspector shows them: text typed by a user encoded in the
task's vocabulary (``encode_input``), the token label of each step (``step_tokens``), the
evaluation data's ``index``-th sequence (``evaluation_sample``) and the model's answers beside
the targets (``answers``). Used by ``fwp inspect`` and the docs' picture script.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.tasks import AssociativeRetrieval, Batch, Task
from fastweights.train.loop import validation
from fastweights.train.objective import target_kind


def encode_input(task: Task, text: str) -> Tensor:
    """``text`` as one model input ``[T]`` ids or ``[T, d_input]`` vectors (see the module doc)."""
    if not text.strip():
        raise ValueError("--input is empty")
    if hasattr(task, "encode"):
        ids = task.encode(text)
        return torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    symbols = getattr(task, "symbols", None)
    if symbols is not None:
        parts = text.split() if " " in text.strip() else list(text.strip())
        unknown = sorted({p for p in parts if p not in symbols})
        if unknown:
            raise ValueError(f"{type(task).__name__} symbols are {list(symbols)}; got {unknown}")
        return torch.tensor([symbols.index(p) for p in parts], dtype=torch.long)
    if isinstance(task, AssociativeRetrieval):
        return _retrieval_input(task, text)
    if task.vocab_size:
        try:
            ids = [int(part) for part in text.split()]
        except ValueError:
            raise ValueError(
                f"{type(task).__name__} has no text encoding: give space-separated "
                f"token ids in 0..{task.vocab_size - 1}, got {text!r}"
            ) from None
        bad = [i for i in ids if not 0 <= i < task.vocab_size]
        if bad:
            raise ValueError(f"token ids must be in 0..{task.vocab_size - 1}, got {bad}")
        return torch.tensor(ids, dtype=torch.long)
    raise ValueError(
        f"{type(task).__name__} reads vectors and has no text encoding; "
        "use --sample N instead of --input"
    )


def _retrieval_input(task: AssociativeRetrieval, text: str) -> Tensor:
    """``"3=5 1=2 ?3"``: writes ``key=value`` and queries ``?key`` as the task's vectors."""
    nk, nv = task.n_keys, task.n_values
    x = torch.zeros(len(text.split()), nk + nv + 1)
    for t, part in enumerate(text.split()):
        try:
            if part.startswith("?"):
                key, value = int(part[1:]), None
            else:
                key_text, value_text = part.split("=")
                key, value = int(key_text), int(value_text)
        except ValueError:
            raise ValueError(
                f"associative retrieval input: writes 'key=value' and queries '?key', got {part!r}"
            ) from None
        if not 0 <= key < nk or (value is not None and not 0 <= value < nv):
            raise ValueError(f"{part!r}: keys are 0..{nk - 1}, values 0..{nv - 1}")
        x[t, key] = 1.0
        if value is None:
            x[t, -1] = 1.0
        else:
            x[t, nk + value] = 1.0
    return x


VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥"}  # whitespace that would vanish in a token box


def _character(task: Task, i: int) -> str:
    """Token id ``i`` as text through the task's ``decode`` (character-level tasks)."""
    text = task.decode([i])
    return "".join(VISIBLE.get(c, c) for c in text) or str(i)


def step_tokens(task: Task, x: Tensor) -> list[str] | None:
    """A label per step of one input ``x``: associative retrieval's ``key=value``/``?key``, a
    character task's characters; None lets ``record`` use the task's symbols or the ids."""
    if not isinstance(task, AssociativeRetrieval):
        if hasattr(task, "decode") and not hasattr(task, "symbols") and x.dim() == 1:
            return [_character(task, int(i)) for i in x]
        return None
    nk, nv = task.n_keys, task.n_values
    labels = []
    for row in x:
        key = int(row[:nk].argmax())
        labels.append(f"?{key}" if row[-1] > 0.5 else f"{key}={int(row[nk : nk + nv].argmax())}")
    return labels


def _answer(task: Task, kind: str, values: Tensor) -> str:
    """One position's target or output, as text: a class, a set of symbols, a value id."""
    if kind == "multilabel":
        names = [*getattr(task, "symbols", ()), "EOS"]
        on = (values > 0.5).nonzero().flatten().tolist()
        return "{" + ",".join(names[i] if i < len(names) else str(i) for i in on) + "}"
    if kind == "vectors" or values.dim() == 1:
        return str(int(values.argmax()))
    if hasattr(task, "decode") and not hasattr(task, "symbols"):
        return _character(task, int(values))
    return str(int(values))


def answers(task: Task, batch: Batch | None, logits: Tensor) -> dict[str, list[str | None]]:
    """The model's answer per step of one sequence and, given its ``batch``, the targets (None
    off-mask); without a batch (a user's input) an answer at every step."""
    if logits.dim() != 2 or (batch is not None and batch.mask.dim() != 1):
        return {}  # a pooled model: one answer per sequence
    if batch is None:
        kind = getattr(task, "target_kind", "classes")  # token ids in, class ids out
        scored = [True] * logits.shape[0]
    else:
        kind = target_kind(task, batch)
        scored = batch.mask.tolist()
    # the model's multilabel answer is "logit > 0", its probability > 0.5
    outputs = torch.sigmoid(logits) if kind == "multilabel" else logits
    result: dict[str, list[str | None]] = {}
    if batch is not None:
        result["targets"] = [_answer(task, kind, batch.y[t]) if on else None
                             for t, on in enumerate(scored)]  # fmt: skip
    result["predictions"] = [
        _answer(task, kind, outputs[t].argmax() if kind == "classes" else outputs[t])
        if on
        else None
        for t, on in enumerate(scored)
    ]
    return result


def evaluation_sample(task: Task, batch_size: int, seed: int, index: int) -> Batch:
    """The ``index``-th sequence of the run's evaluation data (the fixed batches of
    ``fastweights.train.loop.evaluate``: seed + 1, on ``validation(task)``), trailing padding
    dropped."""
    if index < 0:
        raise ValueError(f"--sample must be >= 0, got {index}")
    held_out = validation(task)
    generator = torch.Generator().manual_seed(seed + 1)
    for _ in range(index // batch_size + 1):
        batch = held_out.sample(batch_size, generator)
    one = Batch(*(part[index % batch_size] for part in batch))
    pad = getattr(task, "pad_id", None)
    if pad is not None and one.x.dim() == 1:
        length = int((one.x != pad).nonzero().max()) + 1 if (one.x != pad).any() else 1
        one = Batch(one.x[:length], one.y[:length], one.mask[:length])
    return one
