"""``fwp bench train [--mixers a,b] [--preset small --B 8 --T 256 --repeats 5]``: training steps
per second, eager and compiled (``fastweights.bench.training.measure``), one JSON line per
mixer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fastweights.bench import table
from fastweights.bench.measure import default_out, machine_info
from fastweights.bench.runner import utc_now
from fastweights.bench.training import measure
from fastweights.models import PRESETS
from fastweights.nn import MIXERS

DEFAULT_MIXERS = "delta,gated_delta,sum,softmax,srwm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--mixers", default=DEFAULT_MIXERS, help=f"comma list (default {DEFAULT_MIXERS})")
    add("--preset", default="small", help="model preset (default small)")
    add("--B", type=int, default=8, help="batch size (default 8)")
    add("--T", type=int, default=256, help="sequence length (default 256)")
    add("--repeats", type=int, default=5, help="timed steps of each; medians (default 5)")
    add("--threads", type=int, help="torch.set_num_threads (default: torch's own; recorded)")
    add("--out", help="JSON lines file, appended (default benchmarks/results/train-<machine>)")


def run(args: argparse.Namespace) -> int:
    names = args.mixers.split(",")
    unknown = [name for name in names if name not in MIXERS]
    if unknown:
        raise ValueError(f"--mixers: unknown {unknown}; known mixers: {', '.join(MIXERS)}")
    if args.preset not in PRESETS:
        raise ValueError(f"--preset: unknown {args.preset!r}; known: {', '.join(PRESETS)}")
    for option in ("B", "T", "repeats"):
        if getattr(args, option) < 1:
            raise ValueError(f"--{option} must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    info = machine_info(torch.device("cpu"))
    out = Path(args.out) if args.out else default_out(info, "train")
    out.parent.mkdir(parents=True, exist_ok=True)
    for line in table.header(info | {"timestamp": utc_now()}, title="training steps"):
        print(line, flush=True)
    print(f"\n{'mixer':<13}{'params':>9}{'eager tok/s':>13}{'compiled':>10}{'ratio':>7}"
          f"{'compile s':>11}", flush=True)  # fmt: skip
    with out.open("a") as sink:
        for name in names:
            record = measure(name, args.preset, args.B, args.T, args.repeats)
            sink.write(json.dumps(record | {"machine": info, "timestamp": utc_now()}) + "\n")
            eager, compiled = record["eager_tokens_per_s"], record["compiled_tokens_per_s"]
            print(
                f"{name:<13}{record['params']:>9}{table.si(eager):>13}{table.si(compiled):>10}"
                f"{compiled / eager:>6.2f}×{record['compile_s']:>11.1f}",
                flush=True,
            )
    print(f"\nforward+backward+AdamW, preset {args.preset}, B={args.B} T={args.T}")
    return 0
