"""The mixer speed benchmark (`fwp bench mixers`, `python benchmarks/mixers.py`).

Every mixer of ``fastweights.nn.MIXERS`` (rules, cells, softmax attention, LSTM) at one size:
forward+backward of the layer on ``x [B, T, d_model]`` (the loss is the sum of the outputs and
of the final state), median of repeated runs after warm-up, tokens/s and parameters. Rows print
as they finish; one JSON object per mixer is appended to the output file, with the machine,
versions, threads, commit and environment (``fastweights.bench.measure``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from torch import Tensor

from fastweights.bench import table
from fastweights.bench.measure import machine_info, time_repeats
from fastweights.bench.ops import default_out
from fastweights.bench.runner import utc_now
from fastweights.nn import MIXERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--mixers", help="comma list of mixers (default: all in MIXERS)")
    add("--B", type=int, default=4, help="batch size (default 4)")
    add("--T", type=int, default=256, help="sequence length (default 256)")
    add("--d-model", type=int, default=128, help="model width (default 128)")
    add("--heads", type=int, default=4, help="heads (default 4)")
    add("--repeats", type=int, default=5, help="timed runs; the median is reported (default 5)")
    add("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's own; recorded)")
    add(
        "--impl",
        help="run every rule and cell in this form, e.g. recurrent (default: each layer's own "
        "choice, its fastest form); the baselines have no forms and are left out",
    )
    add("--out", help="JSON lines file, appended (default benchmarks/results/mixers-<machine>)")


def _leaves(tree: object) -> list[Tensor]:
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in _leaves(item)]
    return []


def measure(
    name: str, B: int, T: int, d_model: int, heads: int, repeats: int, warmup: int,
    impl: str | None = None,
) -> dict:  # fmt: skip
    """Time forward+backward of ``MIXERS[name](d_model, heads)`` on a random ``[B, T, d_model]``."""
    torch.manual_seed(0)
    mixer = MIXERS[name](d_model, heads, **({} if impl is None else {"impl": impl}))
    x = torch.randn(B, T, d_model, requires_grad=True)

    def call() -> None:
        mixer.zero_grad(set_to_none=True)
        x.grad = None
        y, state = mixer(x)
        loss = y.sum() + sum(leaf.sum() for leaf in _leaves(state) if leaf.requires_grad)
        loss.backward()

    times = time_repeats(call, torch.device("cpu"), repeats, warmup)
    median = statistics.median(times)
    return {
        "mixer": name,
        "B": B,
        "T": T,
        "d_model": d_model,
        "heads": heads,
        "impl": getattr(mixer, "impl", None),
        "params": sum(p.numel() for p in mixer.parameters()),
        "time_s": median,
        "times_s": times,
        "tokens_per_s": B * T / median,
    }


def run(args: argparse.Namespace) -> int:
    names = args.mixers.split(",") if args.mixers else list(MIXERS)
    if args.impl is not None:  # the baselines have a single form
        names = [name for name in names if name not in ("softmax", "lstm")]
    unknown = [name for name in names if name not in MIXERS]
    if unknown:
        raise ValueError(f"--mixers: unknown {unknown}; known mixers: {', '.join(MIXERS)}")
    for option in ("B", "T", "d_model", "heads", "repeats"):
        if getattr(args, option) < 1:
            raise ValueError(f"--{option.replace('_', '-')} must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    info = machine_info(torch.device("cpu"))
    out = Path(args.out) if args.out else default_out(info, "mixers")
    out.parent.mkdir(parents=True, exist_ok=True)
    for line in table.header(info | {"timestamp": utc_now()}, title="mixers"):
        print(line, flush=True)
    print(f"\n{'mixer':<13}{'impl':<11}{'params':>9}{'ms':>10}{'tok/s':>9}", flush=True)
    with out.open("a") as sink:
        for name in names:
            record = measure(name, args.B, args.T, args.d_model, args.heads, args.repeats,
                             args.warmup, args.impl)  # fmt: skip
            sink.write(json.dumps(record | {"machine": info, "timestamp": utc_now()}) + "\n")
            print(
                f"{name:<13}{record['impl'] or '-':<11}{record['params']:>9}"
                f"{1e3 * record['time_s']:>10.1f}{table.si(record['tokens_per_s']):>9}",
                flush=True,
            )
    print(f"\nforward+backward, B={args.B} T={args.T} d_model={args.d_model} heads={args.heads}")
    return 0
