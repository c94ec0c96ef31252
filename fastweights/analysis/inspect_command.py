"""``fwp inspect RUN --out FILE.html [--input "…" | --sample N] [--layers …] [--heads …]
[--every N] [--pictures …] [--no-gif] [--recording FILE.npz]``: record a trained run on one input
and write the self-contained HTML report (``fastweights.analysis.report``).

The task and the model come from the run directory (``config.json`` + ``checkpoint.pt``, as
``fwp eval``). The input is either

- ``--sample N`` (default 0): the N-th sequence of the run's evaluation data, the fixed batches
  that ``fwp eval`` scores (batch ``N // batch_size`` of the generator seeded ``seed + 1``, from
  the task's ``valid_split()`` where it has one), trailing padding dropped; the report then
  shows the targets beside the model's answers; or
- ``--input "…"``: a string in the task's own vocabulary: ``task.encode`` where the task has
  one; the task's ``symbols`` (one character each, or space-separated); associative retrieval as
  space-separated writes ``key=value`` and queries ``?key``; other token tasks as
  space-separated token ids. A task of vectors without a text form is refused with a clear error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fastweights.tasks import AssociativeRetrieval, Batch, Task
from fastweights.train.loop import validation
from fastweights.train.objective import target_kind


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run directory (made by fwp train or fwp demo)")
    parser.add_argument("--out", required=True, help="the HTML file to write")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--input",
        help="an input in the task's vocabulary: its text or symbols (e.g. '(()())'), "
        "associative retrieval's writes and queries ('3=5 1=2 ?3'), else token ids ('4 0 2')",
    )
    source.add_argument("--sample", type=int, help="the N-th sequence of the evaluation data")
    parser.add_argument("--layers", help="blocks to record, e.g. 0,1 (default: all)")
    parser.add_argument("--heads", help="heads to record, e.g. 0,2 (default: all)")
    parser.add_argument("--every", type=int, default=1, help="keep every n-th step (and the last)")
    parser.add_argument(
        "--pictures",
        help="only these pictures, e.g. weights,filmstrip "
        "(default: all that apply; names in fastweights.analysis.plots.PICTURES)",
    )
    parser.add_argument("--no-gif", action="store_true", help="leave out the animation of W_t")
    parser.add_argument("--recording", help="also save the recording (.npz) here")


def _indices(text: str | None, name: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"--{name} takes comma-separated integers, got {text!r}") from None


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


def _last_eval(run: Path) -> dict[str, Any]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return {}
    evals = [json.loads(line) for line in path.read_text().splitlines() if '"eval_loss"' in line]
    return evals[-1] if evals else {}


def run(args: argparse.Namespace) -> int:
    from fastweights.analysis.plots import PICTURES
    from fastweights.analysis.record import record
    from fastweights.analysis.report import write_report
    from fastweights.train.evaluate import load_run

    run_dir = Path(args.run)
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out must name an .html file, got {out}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out: the folder {out.parent} does not exist")
    pictures = None if args.pictures is None else args.pictures.replace(",", " ").split()
    unknown = sorted(set(pictures or ()) - set(PICTURES))
    if unknown:
        raise ValueError(f"unknown pictures {unknown}; known: {', '.join(PICTURES)}")
    task, model, train_config = load_run(run_dir)
    info: dict[str, Any] = {
        "run": str(run_dir),
        "train": dataclasses.asdict(train_config),
        "metrics": _last_eval(run_dir),
        "parameters": model.num_parameters(),
    }
    if args.input is not None:
        x = encode_input(task, args.input)
        info["source"] = f"--input {args.input!r}"
        batch = None
    else:
        index = args.sample or 0
        batch = evaluation_sample(task, train_config.batch_size, train_config.seed, index)
        x = batch.x
        info["source"] = f"sequence {index} of the run's evaluation data"
    recording = record(
        model,
        x.unsqueeze(0),
        layers=_indices(args.layers, "layers"),
        heads=_indices(args.heads, "heads"),
        every=args.every,
        tokens=step_tokens(task, x),
        task=task,
    )
    info |= answers(task, batch, torch.from_numpy(recording.logits))
    if args.recording:
        recording.save(args.recording)
    write_report(recording, out, run=info, pictures=pictures, gif=not args.no_gif)
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB): {len(recording.layers)} layers, "
        f"{recording.length} steps"
    )
    return 0
