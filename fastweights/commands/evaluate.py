"""``fwp eval RUN [--test-split]``: evaluate a run's checkpoint on its task.

The task, the model and the evaluation settings come from the run's ``config.json``; the weights
from its ``checkpoint.pt`` (``fastweights.train.run_dir.load_run``). Without ``--test-split`` it
reads what the run's evaluations read (the validation split of a language model, fresh batches of a
generated task); ``--test-split`` reads the task's ``test_split()``: longer strings (formal
languages, copy/reverse) for length generalisation, held-out text or alphabets. For a text (a task
with ``windows``) it also prints the exact bits per character of the whole split
(``metrics.text_bits_per_char``).
"""

from __future__ import annotations

import argparse

from fastweights.train.loop import evaluate, validation
from fastweights.train.metrics import text_bits_per_char
from fastweights.train.run_dir import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run directory (made by fwp train or fwp demo)")
    parser.add_argument("--test-split", action="store_true", help="the task's longer test lengths")


def run(args: argparse.Namespace) -> int:
    task, model, config = load_run(args.run)
    if args.test_split:
        if not hasattr(task, "test_split"):
            raise ValueError(f"{type(task).__name__} has no test split")
        task = task.test_split()
    else:
        task = validation(task)  # what the run's own evaluations read
    result = evaluate(model, task, config)
    split = "test" if args.test_split else "validation"
    print(f"{args.run} ({split}): eval loss {result['eval_loss']:.4f}  "
          f"eval accuracy {result['eval_accuracy']:.4f}  "
          f"sequence accuracy {result['eval_sequence_accuracy']:.4f}")  # fmt: skip
    if "eval_bits_per_char" in result:
        print(f"bits per char {result['eval_bits_per_char']:.4f} (sampled windows)")
    if hasattr(task, "windows"):
        device, streams = next(model.parameters()).device, config.batch_size
        for carry, how in ((True, "carrying their state"), (False, "each window afresh")):
            bits, count = text_bits_per_char(
                model, task, batch_size=streams, carry_state=carry, device=device
            )
            print(f"bits per char {bits:.4f} (the whole {split} text, {count:,} characters, "
                  f"{streams} streams {how})")  # fmt: skip
    for length, accuracy in result.get("eval_accuracy_by_length", {}).items():
        print(f"length {length:>5}: accuracy {accuracy:.4f}")
    return 0
