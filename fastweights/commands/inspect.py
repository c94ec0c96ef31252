"""``fwp inspect RUN --out FILE.html [--input "…" | --sample N] [--layers …] [--heads …]
[--every N] [--pictures …] [--no-gif] [--recording FILE.npz]``: record a trained run on one input
and write the self-contained HTML report (``fastweights.analysis.report``).

The task and the model come from the run directory (``config.json`` + ``checkpoint.pt``, as
``fwp eval``), or the model from an fla checkpoint directory (``fastweights.interop.fla``; the
input is then ``--input``: text through its ``tokenizer.json``, else token ids). The input of a
run is either

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

from fastweights.analysis.inputs import answers, encode_input, evaluation_sample, step_tokens


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
    from fastweights.interop.fla import is_fla_checkpoint

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
    if is_fla_checkpoint(run_dir):
        task, batch, model, x, tokens, info = _fla_input(run_dir, args)
    else:
        task, batch, model, x, tokens, info = _run_input(run_dir, args)
    recording = record(
        model,
        x.unsqueeze(0),
        layers=_indices(args.layers, "layers"),
        heads=_indices(args.heads, "heads"),
        every=args.every,
        tokens=tokens,
        task=task,
    )
    if task is not None:
        info |= answers(task, batch, torch.from_numpy(recording.logits))
    if args.recording:
        recording.save(args.recording)
    write_report(recording, out, run=info, pictures=pictures, gif=not args.no_gif)
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB): {len(recording.layers)} layers, "
        f"{recording.length} steps"
    )
    return 0


def _run_input(run_dir: Path, args: argparse.Namespace) -> tuple[Any, ...]:
    """A run directory's task, model, input and report info."""
    from fastweights.train.run_dir import load_run

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
    return task, batch, model, x, step_tokens(task, x), info


def _fla_input(folder: Path, args: argparse.Namespace) -> tuple[Any, ...]:
    """An fla checkpoint's model and the ``--input`` (text through its tokenizer, or ids)."""
    from fastweights.interop.fla import load_fla_checkpoint, read_fla_config
    from fastweights.interop.tokenizer import CheckpointText

    if args.input is None:
        raise ValueError(f"{folder} is an fla checkpoint without evaluation data: give --input")
    model = load_fla_checkpoint(folder)
    text = CheckpointText(folder, model.config.vocab_size)
    x = text.encode(args.input)
    kind = read_fla_config(folder)["model_type"]
    info = {
        "run": f"{folder} (fla {kind} checkpoint, {model.config.mixer} layers)",
        "parameters": model.num_parameters(),
        "source": f"--input {args.input!r}",
    }
    return None, None, model, x, text.labels(x), info
