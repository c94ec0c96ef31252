"""``fwp generate RUN --prompt TEXT [--tokens N] [--temperature T] [--top-k K] [--top-p P]
[--eos TOKEN] [--seed S]``.

Continues a text with a trained character-level language model (a run whose task can
``encode``/``decode`` text, e.g. ``fwp train charlm-delta``), or with the model of an fla
checkpoint directory (``DeltaNetForCausalLM`` / ``GatedDeltaNetForCausalLM``: its
``tokenizer.json``, else space-separated token ids; ``fastweights.interop.fla``). The prompt
runs once; each new token then runs alone with the carried fast-weight states (O(1) memory per
token) and is printed as it comes (``fastweights.models.generation.stream``): the text so far is
decoded again at each token and its new end printed, held back while it ends in an incomplete
character (U+FFFD), so multi-byte pieces print whole. ``--eos`` stops at that token: an id
(digits), else a token of the tokenizer's vocabulary (``</s>``) or a text that encodes to one
token (a character of a character-level model; ``\\n`` and other backslash escapes are read).
"""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from fastweights.models.generation import stream
from fastweights.train.run_dir import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run", help="a run directory of a character-level language model, or an fla checkpoint"
    )
    parser.add_argument("--prompt", required=True, help="the text to continue")
    parser.add_argument("--tokens", type=int, default=200, help="most tokens to add (200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (0.8)")
    parser.add_argument("--top-k", type=int, default=None, help="sample from the k most likely")
    parser.add_argument(
        "--top-p", type=float, default=None, help="sample from the nucleus of mass p, in (0, 1]"
    )
    parser.add_argument("--eos", default=None, help="stop at this token: an id or its text")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (0)")


def run(args: argparse.Namespace) -> int:
    from fastweights.interop.fla import is_fla_checkpoint

    if not args.prompt:
        raise ValueError("--prompt must not be empty")
    if is_fla_checkpoint(args.run):
        from fastweights.interop.fla import load_fla_checkpoint
        from fastweights.interop.tokenizer import CheckpointText

        model = load_fla_checkpoint(args.run)
        text = CheckpointText(args.run, model.config.vocab_size)
        vocabulary = text.tokenizer.token_to_id if text.tokenizer is not None else None
        return _print_stream(args, model, text.encode, text.decode, vocabulary)
    task, model, _ = load_run(args.run)
    if not (hasattr(task, "encode") and hasattr(task, "decode")):
        raise ValueError(
            f"{args.run}: its task ({type(task).__name__}) has no text encoding; fwp generate "
            "needs a character-level language model run (e.g. fwp train charlm-delta)"
        )
    return _print_stream(args, model, task.encode, task.decode, None)


def _print_stream(
    args: argparse.Namespace,
    model: torch.nn.Module,
    encode: Callable[[str], Tensor],
    decode: Callable[[Tensor], str],
    vocabulary: Callable[[str], int | None] | None,
) -> int:
    """Print the prompt, then each new token's text as it comes, flushed; a newline at the end."""
    prompt = encode(args.prompt).reshape(-1)
    eos = None if args.eos is None else eos_id(args.eos, encode, vocabulary)
    tokens = stream(model, [prompt], args.tokens, temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, eos_token_id=eos, generator=args.seed)  # fmt: skip
    ids = prompt.tolist()
    shown = decode(prompt)
    _write(shown)
    for _, token in tokens:
        ids.append(token)
        text = decode(torch.tensor(ids))
        if text.startswith(shown) and not text.endswith("\ufffd"):
            _write(text[len(shown) :])
            shown = text
    text = decode(torch.tensor(ids))
    _write((text[len(shown) :] if text.startswith(shown) else "") + "\n")
    return 0


def eos_id(
    value: str, encode: Callable[[str], Tensor], vocabulary: Callable[[str], int | None] | None
) -> int:
    """``--eos`` as a token id: digits are an id; else the vocabulary's token of that name, or
    the one token the text (backslash escapes read) encodes to."""
    if value.isdigit():
        return int(value)
    if vocabulary is not None and vocabulary(value) is not None:
        return int(vocabulary(value))
    text = codecs.decode(value, "unicode_escape") if "\\" in value else value
    ids = encode(text).reshape(-1).tolist() if text else []
    if len(ids) != 1:
        raise ValueError(f"--eos {value!r} must be a token id or one token's text; it encodes "
                         f"to {len(ids)} tokens {ids}")  # fmt: skip
    return int(ids[0])


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
