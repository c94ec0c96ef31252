"""``fwp generate RUN --prompt TEXT [--tokens N] [--temperature T] [--seed S]``.

Continues a text with a trained character-level language model (a run whose task can
``encode``/``decode`` text, e.g. ``fwp train charlm-delta``), or with the model of an fla
checkpoint directory (``DeltaNetForCausalLM`` / ``GatedDeltaNetForCausalLM``: its
``tokenizer.json``, else space-separated token ids; ``fastweights.interop.fla``). The prompt
runs once; each new token then runs alone with the carried fast-weight states (O(1) memory per
token).
"""

from __future__ import annotations

import argparse

import torch

from fastweights.train.run_dir import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run", help="a run directory of a character-level language model, or an fla checkpoint"
    )
    parser.add_argument("--prompt", required=True, help="the text to continue")
    parser.add_argument("--tokens", type=int, default=200, help="characters to add (200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (0.8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (0)")


def run(args: argparse.Namespace) -> int:
    from fastweights.interop.fla import is_fla_checkpoint

    if not args.prompt:
        raise ValueError("--prompt must not be empty")
    if is_fla_checkpoint(args.run):
        return _generate_fla(args)
    task, model, _ = load_run(args.run)
    if not (hasattr(task, "encode") and hasattr(task, "decode")):
        raise ValueError(
            f"{args.run}: its task ({type(task).__name__}) has no text encoding; fwp generate "
            "needs a character-level language model run (e.g. fwp train charlm-delta)"
        )
    prompt = task.encode(args.prompt).reshape(1, -1)
    generator = torch.Generator().manual_seed(args.seed)
    ids = model.generate(prompt, args.tokens, generator=generator, temperature=args.temperature)
    print(task.decode(ids[0]))
    return 0


def _generate_fla(args: argparse.Namespace) -> int:
    from fastweights.interop.fla import load_fla_checkpoint
    from fastweights.interop.tokenizer import CheckpointText

    model = load_fla_checkpoint(args.run)
    text = CheckpointText(args.run, model.config.vocab_size)
    prompt = text.encode(args.prompt).reshape(1, -1)
    generator = torch.Generator().manual_seed(args.seed)
    ids = model.generate(prompt, args.tokens, generator=generator, temperature=args.temperature)
    print(text.decode(ids[0]))
    return 0
