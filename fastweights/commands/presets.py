"""``fwp presets``: the parameter count of every preset with every mixer, sizes matched.

For each preset, the reference is its ``delta`` model; every other mixer gets the ``d_model``
that brings its model closest to that size (``matched_config``), so rows compare like with like.
"""

from __future__ import annotations

import argparse

from fastweights.models.presets import PRESETS, count_parameters, matched_config, preset_config
from fastweights.nn import MIXERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", help=f"comma list (default: all of {', '.join(PRESETS)})")
    parser.add_argument("--vocab-size", type=int, default=256, help="token vocabulary (256)")


def run(args: argparse.Namespace) -> int:
    names = args.presets.split(",") if args.presets else list(PRESETS)
    for name in names:
        reference = preset_config(name, mixer="delta", vocab_size=args.vocab_size)
        target = count_parameters(reference)
        print(f"{name}: {reference.n_layers} layers, {reference.n_heads} heads, "
              f"vocab {args.vocab_size}; reference delta d_model {reference.d_model}")  # fmt: skip
        print(f"  {'mixer':<13}{'d_model':>8}{'params':>11}{'vs delta':>10}")
        for mixer in MIXERS:
            config = matched_config(reference, mixer)
            size = count_parameters(config)
            print(f"  {mixer:<13}{config.d_model:>8}{size:>11,}{size / target - 1:>+10.1%}")
    return 0
