"""``fwp eval RUN [--test-split]``: evaluate a run's checkpoint on its task.

The task, the model and the evaluation settings come from the run's ``config.json``; the weights
from its ``checkpoint.pt`` (``fastweights.train.run_dir.load_run``). Without ``--test-split`` it
reads what the run's evaluations read (the validation split of a language model, fresh batches of a
generated task); ``--test-split`` reads the task's ``test_split()``: longer strings (formal
languages, copy/reverse) for length generalisation, held-out text or alphabets. For a text (a task
with ``windows``) it also prints the exact bits per character of the whole split
(``metrics.text_bits_per_char``), each stream's state carried from window to window and each
window afresh.

``--json`` prints one JSON object instead: ``run``, ``split`` (``"validation"``/``"test"``), the
sampled batches' ``eval_*`` metrics and, for a text, ``bpc_carried``, ``bpc_afresh``,
``bpc_characters`` and ``streams`` (``metrics.whole_split``); for a subword or word-level text
also ``bpt_carried``, ``bpt_afresh`` (bits per token), ``ppl_carried``, ``ppl_afresh``
(perplexity) and ``bpt_tokens``.
"""

from __future__ import annotations

import argparse
import json

from fastweights.train.loop import evaluate, validation
from fastweights.train.metrics import whole_split
from fastweights.train.run_dir import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run directory (made by fwp train or fwp demo)")
    parser.add_argument("--test-split", action="store_true", help="the task's longer test lengths")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


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
    streams = config.batch_size
    if hasattr(task, "windows"):
        device = next(model.parameters()).device
        result |= whole_split(model, task, batch_size=streams, device=device)
        result["streams"] = streams
    if args.json:
        print(json.dumps({"run": str(args.run), "split": split, **result}))
        return 0
    print(f"{args.run} ({split}): eval loss {result['eval_loss']:.4f}  "
          f"eval accuracy {result['eval_accuracy']:.4f}  "
          f"sequence accuracy {result['eval_sequence_accuracy']:.4f}")  # fmt: skip
    if "eval_bits_per_char" in result:
        print(f"bits per char {result['eval_bits_per_char']:.4f} (sampled windows)")
    if "eval_perplexity" in result:
        print(f"bits per token {result['eval_bits_per_token']:.4f}, perplexity "
              f"{result['eval_perplexity']:.2f} (sampled windows)")  # fmt: skip
    if "bpt_carried" in result:
        for kind, how in (("carried", "carrying their state"), ("afresh", "each window afresh")):
            print(f"bits per token {result['bpt_' + kind]:.4f}, perplexity "
                  f"{result['ppl_' + kind]:.2f} (the whole {split} text, {result['bpt_tokens']:,} "
                  f"tokens, {streams} streams {how})")  # fmt: skip
    if "bpc_carried" in result:
        for key, how in (
            ("bpc_carried", "carrying their state"),
            ("bpc_afresh", "each window afresh"),
        ):
            print(f"bits per char {result[key]:.4f} (the whole {split} text, "
                  f"{result['bpc_characters']:,} characters, {streams} streams {how})")  # fmt: skip
    for length, accuracy in result.get("eval_accuracy_by_length", {}).items():
        print(f"length {length:>5}: accuracy {accuracy:.4f}")
    return 0
