"""``fwp demo``: the sum rule against the delta rule on associative retrieval with edits.

Schlag, Irie, Schmidhuber 2021 (arXiv:2102.11174) show that a linear Transformer (sum rule)
cannot overwrite what it stored, while the delta rule can: keys re-assigned to new values are the
case where the sum rule's memory keeps the old value too. The demo trains both, equal in size and
on the same data, and prints what happened, judged by the paper's criterion (eval loss ≤ 1e-3).

The published DeltaNet (fla's layer in fla's llama block, the same size: preset
``ar-editing-deltanet``) is not one of the demo's runs: a third run of 300 steps would take the
demo from about a minute to nearly two (on one thread: sum 21 s, delta 40 s, DeltaNet 44 s).
The demo prints the ``fwp train`` line (``PUBLISHED``) that runs it with the demo's settings;
docs/results.md records what it gave.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fastweights.models import count_parameters
from fastweights.train.loop import train
from fastweights.train.presets import configs

SOLVED = 1e-3  # the paper's success criterion on the retrieval loss
RUNS = (
    ("sum rule (linear Transformer)", "ar-editing-sum"),
    ("delta rule (DeltaNet)", "ar-editing-delta"),
)
SETTINGS = ["--train.steps=300", "--train.eval_every=50"]
PUBLISHED = "fwp train ar-editing-deltanet --out {out}/ar-editing-deltanet " + " ".join(SETTINGS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="where the two runs go (runs/demo)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    for _, preset in RUNS:
        if (out / preset).exists():
            raise ValueError(f"{out / preset} exists; remove it or pass another --out")
    print(
        "Associative retrieval with edits (Schlag et al. 2021): 16 writes of key-value pairs over "
        "8 keys, so keys get new values; then every key is queried for its latest value.\n",
        flush=True,
    )
    rows = []
    for label, preset in RUNS:
        task, model_config, train_config = configs(preset, SETTINGS)
        print(f"training the {label}: {train_config.steps} steps ...", flush=True)
        start = time.perf_counter()
        evals: list[dict] = []

        def keep(entry: dict, evals: list[dict] = evals) -> None:
            if "eval_loss" in entry:
                evals.append(entry)

        train(task, model_config, train_config, out / preset, log=keep)
        seconds = time.perf_counter() - start
        final = evals[-1]
        rows.append((label, count_parameters(model_config), final, seconds))
    print(f"\n{'model':<32}{'params':>9}{'eval loss':>11}{'accuracy':>10}{'solved':>8}{'time':>8}")
    for label, params, final, seconds in rows:
        solved = "yes" if final["eval_loss"] <= SOLVED else "no"
        print(f"{label:<32}{params:>9,}{final['eval_loss']:>11.4f}{final['eval_accuracy']:>10.3f}"
              f"{solved:>8}{seconds:>7.0f}s")  # fmt: skip
    (_, _, sum_final, _), (_, _, delta_final, _) = rows
    verdict = {
        (False, True): "As in the paper: the delta rule solved the edits, the sum rule did not.",
        (True, True): "Both solved it at this size and budget (the paper's gap shows with more "
        "keys).",
        (False, False): "Neither solved it in this budget; try more steps (--train.steps).",
        (True, False): "Unlike the paper, the sum rule solved it and the delta rule did not.",
    }[(sum_final["eval_loss"] <= SOLVED, delta_final["eval_loss"] <= SOLVED)]
    print(f"\n{verdict}\nBoth runs are in {out}/ (config.json, metrics.jsonl, checkpoint.pt).")
    print(f"The published DeltaNet layer on the same task (slower; docs/results.md): "
          f"{PUBLISHED.format(out=out)}")  # fmt: skip
    return 0
