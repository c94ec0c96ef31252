"""``fwp generate RUN --prompt TEXT [--tokens N] [--temperature T] [--seed S]``.

Continues a text with a trained character-level language model (a run whose task can
``encode``/``decode`` text, e.g. ``fwp train charlm-delta``). The prompt runs once; each new
character then runs alone with the carried fast-weight states (O(1) memory per character).
"""

from __future__ import annotations

import argparse

import torch

from fastweights.train.run_dir import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run directory of a character-level language model")
    parser.add_argument("--prompt", required=True, help="the text to continue")
    parser.add_argument("--tokens", type=int, default=200, help="characters to add (200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (0.8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (0)")


def run(args: argparse.Namespace) -> int:
    task, model, _ = load_run(args.run)
    if not (hasattr(task, "encode") and hasattr(task, "decode")):
        raise ValueError(
            f"{args.run}: its task ({type(task).__name__}) has no text encoding; fwp generate "
            "needs a character-level language model run (e.g. fwp train charlm-delta)"
        )
    if not args.prompt:
        raise ValueError("--prompt must not be empty")
    prompt = task.encode(args.prompt).reshape(1, -1)
    generator = torch.Generator().manual_seed(args.seed)
    ids = model.generate(prompt, args.tokens, generator=generator, temperature=args.temperature)
    print(task.decode(ids[0]))
    return 0
